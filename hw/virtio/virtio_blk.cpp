// virtio-blk: properties, realize, configuration space and the activate/deactivate hand-over
// to the home loop. The request path is in virtio_blk_request.cpp.

#include "hw/virtio/virtio_blk.h"

#include <algorithm>
#include <future>

#include "block/block_backend.h"
#include "block/block_node.h"
#include "hw/core/device_backends.h"
#include "qom/property.h"
#include "util/event_fd.h"
#include "util/event_loop.h"
#include "util/little_endian.h"

namespace nemu::hw::virtio {

VirtioBlk::VirtioBlk() = default;

VirtioBlk::~VirtioBlk() {
    // The transport deactivates before its children go. Never call DeviceBackends from here:
    // the VM may be gone (device_backends.h). FIXME(#5): detach_drive belongs in an unrealize
    // hook (device_del) that Device does not have yet, so a deleted device's drive stays
    // marked in use.
    m_resume_handle.reset();
    if (m_active) deactivate();
}

// --- realize ---------------------------------------------------------------------------------

Result<> VirtioBlk::realize() {
    DeviceBackends* backends = device_backends(*this);
    if (!backends) return fail("virtio-blk-device: not part of a machine");
    return realize_with(*backends);
}

Result<> VirtioBlk::realize_with(DeviceBackends& backends) {
    // QEMU 7.2 virtio_blk_device_realize, in its order and with its messages.
    if (m_drive.empty()) return fail("drive property not set");
    // FIXME(#5): QEMU's virtio-blk-pci picks one queue per vCPU when num-queues is unset; the
    // device cannot see the vCPU count yet, so "auto" is one queue.
    if (m_num_queues == kBlkAutoNumQueues) m_num_queues = 1;
    if (m_num_queues == 0) return fail("num-queues property must be larger than 0");
    // QEMU 7.2 aborts above VIRTIO_QUEUE_MAX; later QEMU words the refusal like this.
    if (m_num_queues > kBlkMaxQueues) return fail("num-queues property must be <= {}", kBlkMaxQueues);
    if (m_queue_size <= 2) return fail("invalid queue-size property ({}), must be > 2", m_queue_size);
    if ((m_queue_size & (m_queue_size - 1)) || m_queue_size > kBlkMaxQueueSize)
        return fail("invalid queue-size property ({}), must be a power of 2 (max {})", m_queue_size,
                    kBlkMaxQueueSize);
    if (!m_write_cache.empty() && m_write_cache != "auto" && m_write_cache != "on" && m_write_cache != "off")
        return fail("Parameter 'write-cache' does not accept value '{}'", m_write_cache);

    // blkconf_blocksizes: both default to 512 for files (QEMU probes sizes only for host
    // block devices).
    m_blk_size = m_logical_block_size ? static_cast<uint32_t>(m_logical_block_size) : kBlkSectorSize;
    m_phys_block_size = m_physical_block_size ? static_cast<uint32_t>(m_physical_block_size) : kBlkSectorSize;
    if (m_blk_size > m_phys_block_size) return fail("logical_block_size > physical_block_size not supported");
    if (m_min_io_size % m_blk_size) return fail("min_io_size must be a multiple of logical_block_size");
    if (m_opt_io_size % m_blk_size) return fail("opt_io_size must be a multiple of logical_block_size");
    if (m_discard && (m_max_discard_sectors == 0 || m_max_discard_sectors > kBlkMaxRequestSectors))
        return fail("invalid max-discard-sectors property ({}), must be between 1 and {}", m_max_discard_sectors,
                    kBlkMaxRequestSectors);
    if (m_write_zeroes && (m_max_write_zeroes_sectors == 0 || m_max_write_zeroes_sectors > kBlkMaxRequestSectors))
        return fail("invalid max-write-zeroes-sectors property ({}), must be between 1 and {}",
                    m_max_write_zeroes_sectors, kBlkMaxRequestSectors);

    m_main = &backends.main_loop();
    m_home = m_main;
    if (!m_iothread.empty()) m_home = TRY(backends.iothread_loop(m_iothread));
    std::string qdev = canonical_path();
    m_backend = TRY(backends.attach_drive("virtio-blk-device.drive", m_drive, qdev, *m_home));

    m_read_only = m_backend->root().read_only();
    m_capacity = m_backend->root().length() / kBlkSectorSize;
    // write-cache=on/off overrides the drive's cache mode (blkconf_apply_backend_options).
    // Nothing runs on the backend yet, so setting it from here is safe.
    if (m_write_cache == "on") m_backend->set_write_cache(true);
    if (m_write_cache == "off") m_backend->set_write_cache(false);
    m_wce = m_backend->options().write_cache;
    // werror/rerror other than auto replace the drive's policy, and virtio-blk keeps an
    // io-status (QEMU blkconf_apply_backend_options, blk_iostatus_enable in realize).
    m_backend->set_on_error(block::parse_on_error(m_rerror).value_or(block::OnError::Auto),
                            block::parse_on_error(m_werror).value_or(block::OnError::Auto));
    m_backend->enable_iostatus();
    if (block::IoErrorHost* host = m_backend->error_host())
        m_resume_handle = host->on_resume([this] { on_vm_resume(); });
    return {};
}

void VirtioBlk::on_vm_resume() {
    // QEMU's qmp_cont resets every backend's io-status before the VM starts again.
    m_backend->reset_iostatus();
    if (!m_active) return;
    // Posted even when home is the main loop: the resume hook runs inside the run state
    // change, and the retried requests start once it is over (QEMU's dma_restart BH).
    // The weak token guards a device deleted before a main-loop home runs this; an iothread
    // home is also fenced by deactivate()'s wait.
    m_home->post([this, alive = std::weak_ptr<void>(m_resume_handle)] {
        if (alive.lock()) retry_parked();
    });
}

// --- what the transport offers --------------------------------------------------------------

uint64_t VirtioBlk::device_features() const {
    // QEMU 7.2 virtio_blk_get_features: SEG_MAX, BLK_SIZE and TOPOLOGY always (GEOMETRY too,
    // FIXME(#5): nemu computes no CHS geometry, which no virtio 1.x driver needs); FLUSH when
    // the cache is writeback or the driver may turn it on (CONFIG_WCE); no SIZE_MAX (QEMU
    // reports size_max 0).
    uint64_t f = feature_bit(kBlkFSegMax) | feature_bit(kBlkFBlkSize) | feature_bit(kBlkFTopology);
    if (m_wce.load(std::memory_order_relaxed) || (m_x_enable_wce_if_config_wce && m_config_wce))
        f |= feature_bit(kBlkFFlush);
    if (m_config_wce) f |= feature_bit(kBlkFConfigWce);
    if (m_read_only) f |= feature_bit(kBlkFRo);
    if (m_num_queues > 1) f |= feature_bit(kBlkFMq);
    if (m_discard) f |= feature_bit(kBlkFDiscard);
    if (m_write_zeroes) f |= feature_bit(kBlkFWriteZeroes);
    return f;
}

std::vector<uint16_t> VirtioBlk::queue_max_sizes() const {
    uint16_t n = m_num_queues == kBlkAutoNumQueues ? 1 : m_num_queues;
    return std::vector<uint16_t>(n, m_queue_size);
}

uint32_t VirtioBlk::config_size() const {
    if (m_write_zeroes) return blk_config::kSizeWriteZeroes;
    if (m_discard) return blk_config::kSizeDiscard;
    return blk_config::kSizeBase;
}

void VirtioBlk::read_config(uint32_t offset, std::span<uint8_t> out) const {
    using namespace blk_config;
    uint8_t cfg[kSizeWriteZeroes + 3] = {};
    store_le(cfg + kCapacity, m_capacity, 8);
    // QEMU: seg_max = queue-size - 2 (the header and status descriptors) with seg-max-adjust.
    store_le(cfg + kSegMax, m_seg_max_adjust ? m_queue_size - 2u : 128u - 2u, 4);
    store_le(cfg + kBlkSize, m_blk_size, 4);
    unsigned exp = 0;
    while ((m_blk_size << (exp + 1)) <= m_phys_block_size && exp < 255) ++exp;
    cfg[kPhysicalBlockExp] = static_cast<uint8_t>(exp);
    cfg[kAlignmentOffset] = 0;
    store_le(cfg + kMinIoSize, m_min_io_size / m_blk_size, 2);
    store_le(cfg + kOptIoSize, m_opt_io_size / m_blk_size, 4);
    cfg[kWriteback] = m_wce.load(std::memory_order_relaxed) ? 1 : 0;
    store_le(cfg + kNumQueues, m_num_queues == kBlkAutoNumQueues ? 1 : m_num_queues, 2);
    if (m_discard) {
        uint64_t gran = m_discard_granularity;
        if (gran == 0xFFFFFFFF || !m_report_discard_granularity) gran = m_blk_size;
        store_le(cfg + kMaxDiscardSectors, m_max_discard_sectors, 4);
        store_le(cfg + kMaxDiscardSeg, 1, 4);   // one segment per request, as QEMU
        store_le(cfg + kDiscardSectorAlignment, gran / kBlkSectorSize, 4);
    }
    if (m_write_zeroes) {
        store_le(cfg + kMaxWriteZeroesSectors, m_max_write_zeroes_sectors, 4);
        store_le(cfg + kMaxWriteZeroesSeg, 1, 4);
        cfg[kWriteZeroesMayUnmap] = 1;
    }
    uint32_t size = config_size();
    for (size_t i = 0; i < out.size(); ++i) out[i] = offset + i < size ? cfg[offset + i] : 0;
}

void VirtioBlk::write_config(uint32_t offset, std::span<const uint8_t> in) {
    // Only `writeback` is writable (5.2.5: with VIRTIO_BLK_F_CONFIG_WCE).
    if (!m_config_wce || offset > blk_config::kWriteback || offset + in.size() <= blk_config::kWriteback) return;
    bool on = in[blk_config::kWriteback - offset] != 0;
    m_wce = on;
    if (!m_backend || !m_home) return;
    // The backend belongs to its home loop; the request path reads the mode there.
    m_home->post([b = m_backend, on] { b->set_write_cache(on); });
}

// --- life cycle -------------------------------------------------------------------------------

void VirtioBlk::run_on_home(const std::function<void()>& fn) {
    if (m_home == m_main || !m_home) return fn();
    std::promise<void> done;
    m_home->post([&] {
        fn();
        done.set_value();
    });
    done.get_future().wait();
}

Result<> VirtioBlk::activate(const VirtioActivation& activation) {
    if (!m_backend) return fail("virtio-blk: activated before realize");
    if (m_active) deactivate();
    m_act = activation;
    m_queues.clear();
    for (const ActiveQueue& aq : activation.queues) {
        if (!aq.queue || !aq.kick) return fail("virtio-blk: queue {} has no ring or doorbell", aq.index);
        auto q = std::make_unique<Queue>();
        q->index = aq.index;
        q->vq = aq.queue;
        q->kick = aq.kick;
        m_queues.push_back(std::move(q));
    }
    m_broken = false;
    m_active = true;
    bool registered = true;
    run_on_home([&] {
        start_on_home();
        for (auto& q : m_queues) registered = registered && q->watched;
    });
    if (!registered) {
        deactivate();
        return fail("virtio-blk: cannot watch the queue doorbells");
    }
    return {};
}

void VirtioBlk::start_on_home() {
    // QEMU virtio_blk_set_status: without CONFIG_WCE the negotiated FLUSH bit decides the
    // cache mode (a driver that cannot flush gets writethrough).
    if (!(m_act.features & feature_bit(kBlkFConfigWce))) {
        bool wce = (m_act.features & feature_bit(kBlkFFlush)) != 0;
        m_backend->set_write_cache(wce);
        m_wce = wce;
    }
    for (auto& qp : m_queues) {
        Queue* q = qp.get();
        q->watched = static_cast<bool>(m_home->add_fd(q->kick->fd(), EPOLLIN, [this, q](uint32_t) { on_kick(*q); }));
        // A kick may have come before we watched: look at the ring once.
        if (q->watched) process_queue(*q);
    }
}

void VirtioBlk::deactivate() {
    if (!m_active) return;
    run_on_home([this] { stop_on_home(); });
    m_queues.clear();
    m_act = VirtioActivation{};
    m_active = false;
}

void VirtioBlk::stop_on_home() {
    for (auto& q : m_queues)
        if (q->watched) m_home->remove_fd(q->kick->fd());
    // Every request the guest gave us completes (and is pushed) before the rings go, but
    // those a stop policy parked: a reset drops them unanswered (QEMU virtio_blk_reset).
    m_backend->drain();
    m_parked.clear();
    for (auto& q : m_queues) q->watched = false;
}

// --- QOM type -------------------------------------------------------------------------------

namespace {

// A string property that accepts one of `allowed` (QEMU's enum properties: OnOffAuto,
// BlockdevOnError), with the input visitor's message.
qom::PropertyDef enum_prop(std::string name, std::string type, std::string VirtioBlk::*member,
                           std::vector<std::string> allowed, std::string description) {
    qom::PropertyDef d;
    d.name = std::move(name);
    d.type = std::move(type);
    d.text_type = "str";
    d.description = std::move(description);
    d.default_value = Json("auto");
    d.get = [member](const qom::Object& o) -> Result<Json> { return Json(static_cast<const VirtioBlk&>(o).*member); };
    d.set = [member, allowed, pname = d.name](qom::Object& o, const Json& v) -> Result<> {
        if (!v.is_string()) return fail("Invalid parameter type for '{}', expected: string", pname);
        const std::string& s = v.get_ref<const std::string&>();
        if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
            return fail("Parameter '{}' does not accept value '{}'", pname, s);
        static_cast<VirtioBlk&>(o).*member = s;
        return {};
    };
    return d;
}

// logical_block_size / physical_block_size: QEMU's DEFINE_PROP_BLOCKSIZE setter and its
// messages (the type name is empty in them, as QEMU 7.2 prints).
qom::PropertyDef block_size_prop(std::string name, uint64_t VirtioBlk::*member) {
    qom::PropertyDef d = qom::prop(name, member, std::optional<uint64_t>(0), "A power of two between 512 B and 2 MiB",
                                   "size");
    d.set = [member, pname = d.name](qom::Object& o, const Json& v) -> Result<> {
        TRY(qom::check_property_value("size", pname, v));
        uint64_t n = v.get<uint64_t>();
        constexpr uint64_t kMin = 512, kMax = 2 * 1024 * 1024;
        if (n != 0 && (n < kMin || n > kMax))
            return fail("Property .{} doesn't take value {} (minimum: {}, maximum: {})", pname, n, kMin, kMax);
        if (n & (n - 1)) return fail("Property .{} doesn't take value '{}', it's not a power of 2", pname, n);
        static_cast<VirtioBlk&>(o).*member = n;
        return {};
    };
    return d;
}

qom::PropertyDef string_prop(std::string name, std::string VirtioBlk::*member, std::string type,
                             std::string description = {}) {
    qom::PropertyDef d = qom::prop(name, member, std::optional<std::string>(), std::move(description));
    d.type = std::move(type);
    d.text_type = "str";
    return d;
}

} // namespace

void register_virtio_blk_type(qom::TypeRegistry& registry) {
    using qom::prop;
    const std::vector<std::string> on_off_auto = {"on", "off", "auto"};
    const std::vector<std::string> on_error = {"report", "ignore", "enospc", "stop", "auto"};
    const std::string on_error_desc = "Error handling policy, report/ignore/enospc/stop/auto";
    std::optional<bool> yes(true), no(false);
    registry.add(qom::TypeInfo{
        .name = "virtio-blk-device",
        .parent = "virtio-device",
        .category = "Storage devices",
        .properties = {
            string_prop("drive", &VirtioBlk::m_drive, "str", "Node name or ID of a block device to use as a backend"),
            block_size_prop("logical_block_size", &VirtioBlk::m_logical_block_size),
            block_size_prop("physical_block_size", &VirtioBlk::m_physical_block_size),
            prop("min_io_size", &VirtioBlk::m_min_io_size, std::optional<uint64_t>(0), {}, "size"),
            prop("opt_io_size", &VirtioBlk::m_opt_io_size, std::optional<uint64_t>(0), {}, "size"),
            prop("discard_granularity", &VirtioBlk::m_discard_granularity, std::optional<uint64_t>(0xFFFFFFFF), {},
                 "size"),
            enum_prop("write-cache", "OnOffAuto", &VirtioBlk::m_write_cache, on_off_auto, "on/off/auto"),
            prop("share-rw", &VirtioBlk::m_share_rw, no),
            enum_prop("rerror", "BlockdevOnError", &VirtioBlk::m_rerror, on_error, on_error_desc),
            enum_prop("werror", "BlockdevOnError", &VirtioBlk::m_werror, on_error, on_error_desc),
            string_prop("serial", &VirtioBlk::m_serial, "str"),
            prop("config-wce", &VirtioBlk::m_config_wce, yes, "on/off"),
            prop("request-merging", &VirtioBlk::m_request_merging, yes, "on/off"),
            prop("num-queues", &VirtioBlk::m_num_queues, std::optional<uint16_t>(kBlkAutoNumQueues)),
            prop("queue-size", &VirtioBlk::m_queue_size, std::optional<uint16_t>(256)),
            prop("seg-max-adjust", &VirtioBlk::m_seg_max_adjust, yes),
            string_prop("iothread", &VirtioBlk::m_iothread, "link<iothread>"),
            prop("discard", &VirtioBlk::m_discard, yes, "on/off"),
            prop("report-discard-granularity", &VirtioBlk::m_report_discard_granularity, yes),
            prop("write-zeroes", &VirtioBlk::m_write_zeroes, yes, "on/off"),
            prop("max-discard-sectors", &VirtioBlk::m_max_discard_sectors,
                 std::optional<uint32_t>(kBlkMaxRequestSectors)),
            prop("max-write-zeroes-sectors", &VirtioBlk::m_max_write_zeroes_sectors,
                 std::optional<uint32_t>(kBlkMaxRequestSectors)),
            prop("x-enable-wce-if-config-wce", &VirtioBlk::m_x_enable_wce_if_config_wce, yes),
        },
        .create = [] { return std::make_unique<VirtioBlk>(); }});
}

} // namespace nemu::hw::virtio
