// QOM types of the virtio-pci transport: the abstract "virtio-pci" with the transport's
// properties, and one concrete "<dev>-pci" type per wrapped device whose class properties
// are the transport's followed by the wrapped device type's own (forwarded to the inner
// "virtio-backend" child), the way QEMU's device-list-properties presents a virtio-*-pci.

#include <fmt/format.h>

#include "hw/virtio/virtio_pci.h"
#include "qom/property.h"

namespace nemu::hw::virtio {

namespace {

// "disable-legacy" is QEMU's OnOffAuto: the text "on", "off" or "auto".
qom::PropertyDef on_off_auto(std::string name, std::string VirtioPciDevice::*member) {
    qom::PropertyDef d;
    d.name = std::move(name);
    d.type = "OnOffAuto";
    d.text_type = "str";
    d.description = "on/off/auto";
    d.default_value = Json("auto");
    d.get = [member](const qom::Object& o) -> Result<Json> { return Json(static_cast<const VirtioPciDevice&>(o).*member); };
    d.set = [member, pname = d.name](qom::Object& o, const Json& v) -> Result<> {
        if (!v.is_string()) return fail("Invalid parameter type for '{}', expected: string", pname);
        const std::string& s = v.get_ref<const std::string&>();
        if (s != "on" && s != "off" && s != "auto") return fail("Parameter '{}' does not accept value '{}'", pname, s);
        static_cast<VirtioPciDevice&>(o).*member = s;
        return {};
    };
    return d;
}

// A property of the wrapped device, reached through the proxy.
qom::PropertyDef forwarded(const qom::PropertyDef& inner) {
    qom::PropertyDef d = inner;
    std::string name = inner.name;
    d.get = [name](const qom::Object& o) -> Result<Json> {
        return static_cast<const VirtioPciDevice&>(o).backend().get_property(name);
    };
    if (inner.set)
        d.set = [name](qom::Object& o, const Json& v) -> Result<> {
            return static_cast<VirtioPciDevice&>(o).backend().set_property(name, v);
        };
    return d;
}

} // namespace

void register_virtio_pci_type(qom::TypeRegistry& registry, std::string proxy_type, std::string backend_type,
                              uint32_t class_code, uint32_t default_vectors, std::string description,
                              std::string category) {
    std::vector<qom::PropertyDef> props;
    if (const qom::TypeInfo* inner = registry.find(backend_type))
        for (const auto& p : inner->properties) props.push_back(forwarded(p));
    const qom::TypeRegistry* types = &registry;
    registry.add(qom::TypeInfo{
        .name = proxy_type,
        .parent = "virtio-pci",
        .description = std::move(description),
        .category = std::move(category),
        .properties = std::move(props),
        .create = [types, backend_type, class_code, default_vectors]() -> std::unique_ptr<qom::Object> {
            auto proxy = std::make_unique<VirtioPciDevice>();
            proxy->m_class_code = class_code;
            proxy->m_vectors = default_vectors;
            auto inner = types->create(backend_type);
            if (!inner) return proxy;   // registration bug: realize reports "no virtio device"
            auto* vdev = static_cast<VirtioDevice*>(inner->get());
            if (proxy->add_child("virtio-backend", std::move(*inner))) proxy->set_backend(vdev);
            return proxy;
        }});
}

void register_virtio_pci_types(qom::TypeRegistry& registry) {
    using qom::prop;
    registry.add(qom::TypeInfo{.name = "virtio-device", .parent = "device", .abstract = true, .bus_type = "virtio-bus"});
    registry.add(qom::TypeInfo{
        .name = "virtio-pci",
        .parent = "pci-device",
        .abstract = true,
        .properties = {
            prop("vectors", &VirtioPciDevice::m_vectors, std::optional<uint32_t>(0xFFFFFFFF)),
            prop("ioeventfd", &VirtioPciDevice::m_ioeventfd, std::optional<bool>(true), "on/off"),
            on_off_auto("disable-legacy", &VirtioPciDevice::m_disable_legacy),
            prop("disable-modern", &VirtioPciDevice::m_disable_modern, std::optional<bool>(false)),
            prop("event_idx", &VirtioPciDevice::m_event_idx, std::optional<bool>(true), "on/off"),
            prop("indirect_desc", &VirtioPciDevice::m_indirect_desc, std::optional<bool>(true), "on/off"),
            prop("packed", &VirtioPciDevice::m_packed, std::optional<bool>(false), "on/off"),
        }});
}

void register_virtio_pci_proxies(qom::TypeRegistry& registry) {
    // QEMU's class codes (include/hw/pci/pci_ids.h) and the MSI-X sizes its devices pick when
    // "vectors" is left unset; a proxy exists for every wrapped device type built in.
    struct Proxy {
        const char* proxy;
        const char* backend;
        uint32_t class_code;
        uint32_t vectors;
        const char* category;
    };
    static constexpr Proxy kProxies[] = {
        {"virtio-rng-pci", "virtio-rng-device", 0x00FF00, 0xFFFFFFFF, "Misc devices"},
        {"virtio-blk-pci", "virtio-blk-device", 0x010000, 0xFFFFFFFF, "Storage devices"},
        {"virtio-serial-pci", "virtio-serial-device", 0x078000, 2, "Input devices"},
        {"virtio-net-pci", "virtio-net-device", 0x020000, 0xFFFFFFFF, "Network devices"},
    };
    for (const auto& p : kProxies)
        if (registry.find(p.backend))
            register_virtio_pci_type(registry, p.proxy, p.backend, p.class_code, p.vectors, "", p.category);
}

} // namespace nemu::hw::virtio
