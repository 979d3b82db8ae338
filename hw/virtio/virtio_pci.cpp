#include "hw/virtio/virtio_pci.h"

#include <fmt/format.h>

#include <cstdio>

#include "hw/pci/msix.h"
#include "hw/pci/pci_platform.h"
#include "hw/virtio/virtqueue.h"
#include "util/event_loop.h"

namespace nemu::hw::virtio {

namespace {

// virtio 1.2, 4.1.4: the vendor-specific capability (cap_vndr 0x09) and its cfg_type values.
constexpr uint8_t kCapVendor = 0x09;
constexpr uint8_t kCapCommonCfg = 1, kCapNotifyCfg = 2, kCapIsrCfg = 3, kCapDeviceCfg = 4, kCapPciCfg = 5;
constexpr uint8_t kVirtioCapLen = 16, kNotifyCapLen = 20, kPciCfgCapLen = 20;

// BAR 4's layout (QEMU 7.2's virtio-pci modern region layout).
constexpr unsigned kModernBar = 4, kMsixBar = 1;
constexpr uint64_t kModernBarSize = 0x4000;
constexpr uint64_t kCommonOffset = 0x0, kIsrOffset = 0x1000, kDeviceOffset = 0x2000, kNotifyOffset = 0x3000;
constexpr uint64_t kPartSize = 0x1000;
constexpr uint32_t kNotifyOffMultiplier = 4;
constexpr uint32_t kMsixPbaOffset = 0x800;
constexpr uint64_t kMsixBarSize = 0x1000;

// virtio 1.2, 4.1.4.3: struct virtio_pci_common_cfg.
enum CommonReg : uint64_t {
    kDeviceFeatureSelect = 0x00, kDeviceFeature = 0x04, kDriverFeatureSelect = 0x08, kDriverFeature = 0x0C,
    kConfigMsixVector = 0x10, kNumQueues = 0x12, kDeviceStatus = 0x14, kConfigGeneration = 0x15,
    kQueueSelect = 0x16, kQueueSize = 0x18, kQueueMsixVector = 0x1A, kQueueEnable = 0x1C,
    kQueueNotifyOff = 0x1E, kQueueDesc = 0x20, kQueueDriver = 0x28, kQueueDevice = 0x30,
    kCommonCfgSize = 0x38,
};

// Rate limit for "driver broke the rules" messages: a hostile guest must not flood the log.
constexpr uint64_t kBrokenLogBurst = 10;

void put_le(uint8_t* p, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Merge an access of `size` bytes at byte `at` of a 64-bit register.
uint64_t merge64(uint64_t reg, unsigned at, uint64_t value, unsigned size) {
    for (unsigned i = 0; i < size && at + i < 8; ++i) {
        uint64_t mask = 0xFFull << (8 * (at + i));
        reg = (reg & ~mask) | (((value >> (8 * i)) & 0xFF) << (8 * (at + i)));
    }
    return reg;
}

} // namespace

// --- the four parts of BAR 4, each an MmioHandler forwarding to the device ----------------

class VirtioPciDevice::CommonCfg final : public memory::MmioHandler {
public:
    explicit CommonCfg(VirtioPciDevice& d) : m_d(d) {}
    uint64_t read(uint64_t offset, unsigned size) override { return m_d.read_common(offset, size); }
    void write(uint64_t offset, uint64_t value, unsigned size) override { m_d.write_common(offset, value, size); }

private:
    VirtioPciDevice& m_d;
};

class VirtioPciDevice::IsrCfg final : public memory::MmioHandler {
public:
    explicit IsrCfg(VirtioPciDevice& d) : m_d(d) {}
    // 4.1.4.5: reading the ISR status resets it.
    uint64_t read(uint64_t offset, unsigned) override { return offset == 0 ? m_d.m_isr.exchange(0) : 0; }
    void write(uint64_t, uint64_t, unsigned) override {}

private:
    VirtioPciDevice& m_d;
};

class VirtioPciDevice::DeviceCfg final : public memory::MmioHandler {
public:
    explicit DeviceCfg(VirtioPciDevice& d) : m_d(d) {}
    // Past the device's configuration structure a read gives all-ones, as QEMU's
    // virtio_config_modern_read* (a driver probing a field the device did not offer sees ~0).
    uint64_t read(uint64_t offset, unsigned size) override {
        uint8_t buf[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
        if (offset + size <= m_d.m_vdev->config_size()) m_d.m_vdev->read_config(static_cast<uint32_t>(offset), std::span(buf, size));
        uint64_t v = 0;
        for (unsigned i = 0; i < size; ++i) v |= uint64_t(buf[i]) << (8 * i);
        return v;
    }
    void write(uint64_t offset, uint64_t value, unsigned size) override {
        if (offset + size > m_d.m_vdev->config_size()) return;
        uint8_t buf[8];
        put_le(buf, value, size);
        m_d.m_vdev->write_config(static_cast<uint32_t>(offset), std::span<const uint8_t>(buf, size));
    }

private:
    VirtioPciDevice& m_d;
};

class VirtioPciDevice::NotifyCfg final : public memory::MmioHandler {
public:
    explicit NotifyCfg(VirtioPciDevice& d) : m_d(d) {}
    uint64_t read(uint64_t, unsigned) override { return 0; }
    // A doorbell write that KVM did not catch with an ioeventfd (qtest, ioeventfd=off, an odd
    // access size): ring the same eventfd, so the device sees one kind of notification.
    void write(uint64_t offset, uint64_t, unsigned) override {
        uint64_t q = offset / kNotifyOffMultiplier;
        if (q < m_d.m_kicks.size()) m_d.m_kicks[q].signal();
    }

private:
    VirtioPciDevice& m_d;
};

// --- construction and realize ---------------------------------------------------------------

VirtioPciDevice::VirtioPciDevice() : m_alive(std::make_shared<VirtioPciDevice*>(this)) {}

VirtioPciDevice::~VirtioPciDevice() {
    // MSI-X (the base's) outlives this part of the object: no more calls into it.
    if (msix()) msix()->set_change_handler({});
    m_alive.reset();
    deactivate_now();
    unmap_doorbells();
}

Result<> VirtioPciDevice::realize() {
    if (!m_vdev) return fail("virtio-pci: no virtio device to wrap");
    if (m_disable_modern) return fail("device cannot work as neither modern nor legacy mode is enabled");
    if (m_disable_legacy == "off")
        return fail("{}: legacy virtio is not supported by nemu (modern virtio 1.x only): use disable-legacy=on or auto",
                    type_name());
    if (m_disable_legacy != "on" && m_disable_legacy != "auto")
        return fail("Parameter 'disable-legacy' does not accept value '{}'", m_disable_legacy);
    TRY(m_vdev->complete());
    // "vectors" unset: the device's choice (QEMU 7.2's per-device defaults).
    if (m_vectors == 0xFFFFFFFF) m_vectors = m_vdev->default_msix_vectors();
    if (m_vectors > 2048) {
        // QEMU 7.2 goes on without MSI-X when msix_init refuses the table size (PCI 3.0 §6.8.2.3: 2048 max).
        std::fprintf(stderr, "nemu-system-x86_64: warning: unable to init msix vectors to %u\n", m_vectors);
        m_vectors = 0;
    }

    m_host_features = m_vdev->device_features() | feature_bit(kFeatureVersion1);
    if (m_event_idx) m_host_features |= feature_bit(kFeatureEventIdx);
    if (m_indirect_desc) m_host_features |= feature_bit(kFeatureIndirectDesc);
    if (m_packed) m_host_features |= feature_bit(kFeatureRingPacked);
    m_host_features = m_vdev->filter_features(m_host_features);
    if (!(m_host_features & feature_bit(kFeatureVersion1)))
        return fail("{}: the device cannot offer VIRTIO_F_VERSION_1 (nemu is modern-only)", type_name());
    for (uint16_t max : m_vdev->queue_max_sizes()) {
        QueueRegs q;
        q.max_size = max;
        q.size = max;
        m_queues.push_back(q);
        m_kicks.push_back(TRY(EventFd::create()));
    }

    // 4.1.2.1: modern-only devices are 0x1040 + the virtio device id, revision 1 or higher.
    set_ids(0x1AF4, static_cast<uint16_t>(0x1040 + m_vdev->device_id()), 0x1AF4, 0x1100, m_class_code, 1);

    std::string name = std::string(m_vdev->type_name());
    if (name.ends_with("-device")) name.resize(name.size() - 7);
    m_common_handler = std::make_unique<CommonCfg>(*this);
    m_isr_handler = std::make_unique<IsrCfg>(*this);
    m_device_handler = std::make_unique<DeviceCfg>(*this);
    m_notify_handler = std::make_unique<NotifyCfg>(*this);
    m_modern_bar = memory::MemoryRegion::container("virtio-pci", kModernBarSize);
    auto part = [&](const char* what, uint64_t offset, memory::MmioHandler& h) {
        auto r = memory::MemoryRegion::mmio(fmt::format("virtio-pci-{}-{}", what, name), kPartSize, h, {1, 8, false});
        m_modern_bar->add_subregion(offset, *r);
        m_modern_parts.push_back(std::move(r));
    };
    part("common", kCommonOffset, *m_common_handler);
    part("isr", kIsrOffset, *m_isr_handler);
    part("device", kDeviceOffset, *m_device_handler);
    part("notify", kNotifyOffset, *m_notify_handler);

    m_msix_bar = memory::MemoryRegion::container("virtio-pci-msix", kMsixBarSize);
    if (m_vectors) {
        register_bar(kMsixBar, *m_msix_bar, pci::BarKind::Mmio32);
        TRY(init_msix(m_vectors, kMsixBar, 0, kMsixPbaOffset));
        msix()->set_change_handler([this] { irqfd_changed(); });
    }
    register_bar(kModernBar, *m_modern_bar, pci::BarKind::Mmio64Prefetch);

    // The vendor capabilities (4.1.4): common, ISR, device, notify, and the PCI-config access
    // window, in QEMU's order.
    auto vendor_cap = [&](uint8_t type, uint8_t len, uint64_t offset, uint32_t length) {
        uint8_t at = add_capability(kCapVendor, len);
        auto cfg = config();
        cfg[at + 2] = len;          // cap_len
        cfg[at + 3] = type;         // cfg_type
        cfg[at + 4] = kModernBar;   // bar
        cfg[at + 5] = 0;            // id
        put_le(&cfg[at + 8], offset, 4);
        put_le(&cfg[at + 12], length, 4);
        return at;
    };
    vendor_cap(kCapCommonCfg, kVirtioCapLen, kCommonOffset, kPartSize);
    vendor_cap(kCapIsrCfg, kVirtioCapLen, kIsrOffset, kPartSize);
    vendor_cap(kCapDeviceCfg, kVirtioCapLen, kDeviceOffset, kPartSize);
    uint8_t notify = vendor_cap(kCapNotifyCfg, kNotifyCapLen, kNotifyOffset, kPartSize);
    put_le(&config()[notify + 16], kNotifyOffMultiplier, 4);
    // 4.1.4.9: the driver chooses bar, offset and length, then reads or writes pci_cfg_data.
    m_pcicfg_cap = vendor_cap(kCapPciCfg, kPciCfgCapLen, 0, 0);
    config()[m_pcicfg_cap + 4] = 0;
    auto wmask = write_mask();
    wmask[m_pcicfg_cap + 4] = 0xFF;
    for (unsigned i = 8; i < 20; ++i) wmask[m_pcicfg_cap + i] = 0xFF;
    std::lock_guard lock(m_lock);
    reset_registers_locked();
    return {};
}

// --- the PCI configuration access capability (4.1.4.9) ----------------------------------------

// An access through pci_cfg_data reaches the BAR region the capability names, as if the driver
// had accessed it directly (only BAR 4, the virtio structures, is reachable: 4.1.4.9.1 limits
// the window to the capabilities' BARs). Returns false when the access is not a pci_cfg_data one.
bool VirtioPciDevice::pci_cfg_access(uint32_t offset, unsigned size, uint32_t* value, bool write) {
    uint32_t data = m_pcicfg_cap + 16u;
    if (!m_pcicfg_cap || offset < data || offset >= data + 4) return false;
    auto cfg = config();
    uint8_t bar = cfg[m_pcicfg_cap + 4];
    uint32_t at = cfg[m_pcicfg_cap + 8] | cfg[m_pcicfg_cap + 9] << 8 | cfg[m_pcicfg_cap + 10] << 16 |
                  uint32_t(cfg[m_pcicfg_cap + 11]) << 24;
    uint32_t len = cfg[m_pcicfg_cap + 12] | cfg[m_pcicfg_cap + 13] << 8 | cfg[m_pcicfg_cap + 14] << 16 |
                   uint32_t(cfg[m_pcicfg_cap + 15]) << 24;
    // The driver accesses pci_cfg_data with the width it put in length (1, 2 or 4), aligned.
    if (bar != kModernBar || (len != 1 && len != 2 && len != 4) || at % len || at + len > kModernBarSize ||
        offset != data || size < len) {
        if (!write) *value = 0;
        return true;
    }
    memory::MmioHandler* parts[] = {m_common_handler.get(), m_isr_handler.get(), m_device_handler.get(),
                                    m_notify_handler.get()};
    memory::MmioHandler* h = parts[at / kPartSize];
    if (write) h->write(at % kPartSize, *value & (len == 4 ? 0xFFFFFFFFu : (1u << (8 * len)) - 1), len);
    else *value = static_cast<uint32_t>(h->read(at % kPartSize, len));
    return true;
}

uint32_t VirtioPciDevice::config_read(uint32_t offset, unsigned size) {
    uint32_t v = 0;
    if (pci_cfg_access(offset, size, &v, false)) return v;
    return pci::PciDevice::config_read(offset, size);
}

void VirtioPciDevice::config_write(uint32_t offset, uint32_t value, unsigned size) {
    if (pci_cfg_access(offset, size, &value, true)) return;
    pci::PciDevice::config_write(offset, value, size);
}

// --- common configuration -------------------------------------------------------------------

void VirtioPciDevice::reset_registers_locked() {
    m_device_feature_select = m_driver_feature_select = 0;
    m_driver_features = 0;
    m_status = 0;
    m_config_vector = kNoVector;
    m_queue_select = 0;
    for (auto& q : m_queues) q = QueueRegs{q.max_size, q.max_size, kNoVector, false, 0, 0, 0};
    m_isr = 0;
    m_needs_reset = false;
}

uint64_t VirtioPciDevice::read_common(uint64_t offset, unsigned size) {
    std::lock_guard lock(m_lock);
    uint8_t regs[kCommonCfgSize] = {};
    uint64_t features = m_device_feature_select == 0 ? m_host_features & 0xFFFFFFFF
                       : m_device_feature_select == 1 ? m_host_features >> 32 : 0;
    put_le(regs + kDeviceFeatureSelect, m_device_feature_select, 4);
    put_le(regs + kDeviceFeature, features, 4);
    put_le(regs + kDriverFeatureSelect, m_driver_feature_select, 4);
    uint64_t drv = m_driver_feature_select == 0 ? m_driver_features & 0xFFFFFFFF
                   : m_driver_feature_select == 1 ? m_driver_features >> 32 : 0;
    put_le(regs + kDriverFeature, drv, 4);
    put_le(regs + kConfigMsixVector, m_config_vector, 2);
    put_le(regs + kNumQueues, m_queues.size(), 2);
    regs[kDeviceStatus] = static_cast<uint8_t>(m_status | (m_needs_reset ? kStatusNeedsReset : 0));
    regs[kConfigGeneration] = m_config_generation.load();
    put_le(regs + kQueueSelect, m_queue_select, 2);
    if (m_queue_select < m_queues.size()) {
        const QueueRegs& q = m_queues[m_queue_select];
        put_le(regs + kQueueSize, q.size, 2);
        put_le(regs + kQueueMsixVector, q.vector, 2);
        put_le(regs + kQueueEnable, q.enabled ? 1 : 0, 2);
        put_le(regs + kQueueNotifyOff, m_queue_select, 2);
        put_le(regs + kQueueDesc, q.desc, 8);
        put_le(regs + kQueueDriver, q.driver, 8);
        put_le(regs + kQueueDevice, q.device, 8);
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < size && offset + i < kCommonCfgSize; ++i) v |= uint64_t(regs[offset + i]) << (8 * i);
    return v;
}

void VirtioPciDevice::write_common(uint64_t offset, uint64_t value, unsigned size) {
    if (offset == kDeviceStatus && size == 1) return write_status(static_cast<uint8_t>(value));
    // A vector the MSI-X table does not have reads back as NO_VECTOR (4.1.5.1.2.1: mapping failed).
    auto vector = [&](uint64_t v) { return v < m_vectors ? static_cast<uint16_t>(v) : kNoVector; };
    if (offset == kQueueMsixVector) {
        {
            std::lock_guard lock(m_lock);
            if (size != 2 || m_queue_select >= m_queues.size()) return;
            m_queues[m_queue_select].vector = vector(value);
        }
        // The queue's irqfd is now another vector's (or none): its holder rebinds.
        return irqfd_changed();
    }
    std::lock_guard lock(m_lock);
    QueueRegs* q = m_queue_select < m_queues.size() ? &m_queues[m_queue_select] : nullptr;
    // Queue registers may change only while the queue is disabled (4.1.4.3.2).
    bool q_writable = q && !q->enabled && !(m_status & kStatusDriverOk);
    switch (offset) {
    case kDeviceFeatureSelect: if (size == 4) m_device_feature_select = static_cast<uint32_t>(value); return;
    case kDriverFeatureSelect: if (size == 4) m_driver_feature_select = static_cast<uint32_t>(value); return;
    case kDriverFeature:
        if (size != 4 || (m_status & kStatusFeaturesOk) || m_driver_feature_select > 1) return;
        if (m_driver_feature_select == 0) m_driver_features = (m_driver_features & ~0xFFFFFFFFull) | (value & 0xFFFFFFFF);
        else m_driver_features = (m_driver_features & 0xFFFFFFFF) | ((value & 0xFFFFFFFF) << 32);
        return;
    case kConfigMsixVector: if (size == 2) m_config_vector = vector(value); return;
    case kQueueSelect: if (size == 2) m_queue_select = static_cast<uint16_t>(value); return;
    case kQueueSize:
        if (size == 2 && q_writable) q->size = static_cast<uint16_t>(value);
        return;
    case kQueueEnable:
        // Writing 0 is not allowed (4.1.4.3.2); a queue is disabled by a device reset.
        if (size == 2 && q_writable && value == 1) q->enabled = true;
        return;
    default: break;
    }
    // The 64-bit ring addresses, written whole or as two 32-bit halves (4.1.3.1).
    for (auto [base, field] : {std::pair{kQueueDesc, &QueueRegs::desc}, std::pair{kQueueDriver, &QueueRegs::driver},
                               std::pair{kQueueDevice, &QueueRegs::device}}) {
        if (offset < base || offset >= base + 8) continue;
        unsigned at = static_cast<unsigned>(offset - base);
        if (q_writable && (size == 8 || size == 4) && at % size == 0) q->*field = merge64(q->*field, at, value, size);
        return;
    }
}

void VirtioPciDevice::write_status(uint8_t status) {
    std::unique_lock lock(m_lock);
    if (status == 0) {
        // 4.1.4.3.2 / 2.4: a device reset. Stopping the device happens on the main loop; until
        // it has, device_status keeps its value and the driver keeps waiting for 0.
        if (!(m_status & kStatusDriverOk) && !m_reset_pending) {
            reset_registers_locked();
            return;
        }
        if (m_reset_pending) return;
        m_reset_pending = true;
        lock.unlock();
        std::weak_ptr<VirtioPciDevice*> alive = m_alive;
        platform().main_loop().post([alive] {
            if (auto d = alive.lock()) (*d)->stop_on_main_loop();
        });
        return;
    }
    if (m_reset_pending) return;
    uint8_t added = static_cast<uint8_t>(status & ~m_status);
    if (added & kStatusFeaturesOk) {
        // 3.1.1 step 5-6: accept only features we offered, with VERSION_1; otherwise leave
        // FEATURES_OK clear so the driver sees the refusal when it reads the status back.
        bool ok = (m_driver_features & ~m_host_features) == 0 && (m_driver_features & feature_bit(kFeatureVersion1));
        if (ok && !m_vdev->check_features(m_driver_features)) ok = false;
        if (!ok) status = static_cast<uint8_t>(status & ~kStatusFeaturesOk);
    }
    bool start = (added & kStatusDriverOk) && (status & kStatusFeaturesOk);
    m_status = static_cast<uint8_t>(m_status | (status & ~kStatusNeedsReset));
    if (!start) return;
    lock.unlock();
    std::weak_ptr<VirtioPciDevice*> alive = m_alive;
    platform().main_loop().post([alive] {
        if (auto d = alive.lock()) (*d)->start_on_main_loop();
    });
}

// --- life cycle on the main loop --------------------------------------------------------------

void VirtioPciDevice::start_on_main_loop() {
    VirtioActivation act;
    std::vector<std::pair<VirtqueueConfig, uint16_t>> wanted;   // config, max size
    {
        std::lock_guard lock(m_lock);
        if (m_active || m_reset_pending || !(m_status & kStatusDriverOk)) return;
        act.features = m_driver_features;
        for (size_t i = 0; i < m_queues.size(); ++i) {
            const QueueRegs& q = m_queues[i];
            if (!q.enabled) continue;
            VirtqueueConfig c;
            c.index = static_cast<uint16_t>(i);
            c.size = q.size;
            c.desc = q.desc;
            c.driver = q.driver;
            c.device = q.device;
            c.packed = act.features & feature_bit(kFeatureRingPacked);
            c.event_idx = act.features & feature_bit(kFeatureEventIdx);
            c.indirect = act.features & feature_bit(kFeatureIndirectDesc);
            wanted.emplace_back(c, q.max_size);
        }
    }
    for (const auto& [c, max] : wanted) {
        if (c.size == 0 || c.size > max) {
            m_rings.clear();
            return mark_broken(fmt::format("virtqueue {}: size {} is not between 1 and {}", c.index, c.size, max));
        }
        auto ring = Virtqueue::create(platform().dma(), c);
        if (!ring) {
            m_rings.clear();
            return mark_broken(ring.error().msg);
        }
        act.queues.push_back({c.index, ring->get(), &m_kicks[c.index]});
        m_rings.push_back(std::move(*ring));
    }
    act.interrupt = this;
    act.memory = &platform().dma();
    act.main_loop = &platform().main_loop();
    std::weak_ptr<VirtioPciDevice*> alive = m_alive;
    act.broken = [alive](const std::string& why) {
        if (auto d = alive.lock()) (*d)->mark_broken(why);
    };
    m_active = true;
    if (auto r = m_vdev->activate(act); !r) {
        m_active = false;
        m_rings.clear();
        mark_broken(r.error().msg);
    }
}

void VirtioPciDevice::deactivate_now() {
    if (m_active) m_vdev->deactivate();
    m_active = false;
    m_rings.clear();
    for (auto& k : m_kicks) (void)k.drain();
}

void VirtioPciDevice::stop_on_main_loop() {
    deactivate_now();
    std::lock_guard lock(m_lock);
    reset_registers_locked();
    m_reset_pending = false;
}

void VirtioPciDevice::reset() {
    pci::PciDevice::reset();
    deactivate_now();
    std::lock_guard lock(m_lock);
    reset_registers_locked();
    m_reset_pending = false;
}

void VirtioPciDevice::mark_broken(const std::string& why) {
    m_needs_reset = true;
    uint64_t n = m_broken_logs.fetch_add(1);
    if (n < kBrokenLogBurst)
        std::fprintf(stderr, "nemu-system-x86_64: %s%s%s: %s (device needs reset)\n", type_name().data(),
                     m_id.empty() ? "" : " ", m_id.c_str(), why.c_str());
    notify_config();
}

// --- interrupts -------------------------------------------------------------------------------

void VirtioPciDevice::signal_vector(uint16_t vector, uint8_t isr_bit) {
    m_isr.fetch_or(isr_bit);
    pci::Msix* msix = this->msix();
    if (vector != kNoVector && msix && msix->enabled()) msix->notify(vector);
}

void VirtioPciDevice::notify_queue(uint16_t queue) {
    uint16_t vector;
    {
        std::lock_guard lock(m_lock);
        vector = queue < m_queues.size() ? m_queues[queue].vector : kNoVector;
    }
    signal_vector(vector, 1);   // ISR bit 0: queue interrupt (4.1.4.5)
}

void VirtioPciDevice::notify_config() {
    uint16_t vector;
    {
        std::lock_guard lock(m_lock);
        vector = m_config_vector;
    }
    m_config_generation.fetch_add(1);
    signal_vector(vector, 2);   // ISR bit 1: configuration change
}

// The queue's vector is read under m_lock, its state under the Msix's: the listener re-asks
// after every change of either, so a holder never keeps a stale answer.
const EventFd* VirtioPciDevice::queue_irqfd(uint16_t queue) {
    uint16_t vector;
    {
        std::lock_guard lock(m_lock);
        vector = queue < m_queues.size() ? m_queues[queue].vector : kNoVector;
    }
    pci::Msix* msix = this->msix();
    if (vector == kNoVector || !msix) return nullptr;
    return msix->direct_fd(vector);
}

void VirtioPciDevice::set_irqfd_listener(std::function<void()> on_change) {
    std::lock_guard lock(m_irqfd_lock);
    m_irqfd_listener = std::move(on_change);
}

// Called with neither m_lock nor the Msix lock held (the listener takes both through
// queue_irqfd). Concurrent changes from several vCPUs run the listener one at a time.
void VirtioPciDevice::irqfd_changed() {
    std::lock_guard lock(m_irqfd_lock);
    if (m_irqfd_listener) m_irqfd_listener();
}

// --- doorbells --------------------------------------------------------------------------------

void VirtioPciDevice::bar_mapped(unsigned index, uint64_t gpa) {
    if (index == kModernBar) map_doorbells(gpa);
}

void VirtioPciDevice::bar_unmapped(unsigned index, uint64_t) {
    if (index == kModernBar) unmap_doorbells();
}

void VirtioPciDevice::map_doorbells(uint64_t bar_gpa) {
    unmap_doorbells();
    if (!m_ioeventfd) return;
    uint64_t base = bar_gpa + kNotifyOffset;
    for (size_t q = 0; q < m_kicks.size(); ++q) {
        auto r = platform().add_ioeventfd(base + q * kNotifyOffMultiplier, 2, m_kicks[q]);
        if (!r || !*r) {
            // Not available (qtest) or refused: the notify MMIO handler rings the fds instead.
            for (size_t i = 0; i < q; ++i) platform().remove_ioeventfd(base + i * kNotifyOffMultiplier, 2, m_kicks[i]);
            return;
        }
    }
    m_doorbell_gpa = base;
}

void VirtioPciDevice::unmap_doorbells() {
    if (!m_doorbell_gpa) return;
    for (size_t q = 0; q < m_kicks.size(); ++q)
        platform().remove_ioeventfd(m_doorbell_gpa + q * kNotifyOffMultiplier, 2, m_kicks[q]);
    m_doorbell_gpa = 0;
}

} // namespace nemu::hw::virtio
