#include "system/register_types.h"

#include "accel/accel_types.h"
#include "backends/host_memory_backend.h"
#include "backends/rng_backend.h"
#include "chardev/chardev.h"
#include "hw/core/device.h"
#include "hw/core/machine.h"
#include "hw/i386/virt/x86_virt_machine.h"
#include "hw/virtio/virtio_blk.h"
#include "hw/virtio/virtio_net.h"
#include "hw/virtio/virtio_pci.h"
#include "hw/virtio/virtio_rng.h"
#include "hw/virtio/virtio_serial.h"
#include "nemu-config.h"
#include "qom/object.h"
#include "qom/type_registry.h"
#include "system/iothread.h"

namespace nemu {

void register_all_types(qom::TypeRegistry& registry) {
    qom::register_base_types(registry);
    accel::register_accel_types(registry);
    chardev::register_chardev_types(registry);
    backends::register_memory_backend_types(registry);
#ifdef CONFIG_VIRTIO_RNG
    backends::register_rng_backend_types(registry);   // rng-backend, rng-random, rng-builtin
#endif
    register_iothread_type(registry);
    hw::register_device_type(registry);
    hw::register_machine_types(registry);
    hw::x86::register_x86_virt_machine(registry);
    // The virtio devices (PCI functions: "pci-device" comes with the board), then one
    // virtio-pci proxy per built-in device.
    hw::virtio::register_virtio_pci_types(registry);
#ifdef CONFIG_VIRTIO_RNG
    hw::virtio::register_virtio_rng_type(registry);
#endif
#ifdef CONFIG_VIRTIO_BLK
    hw::virtio::register_virtio_blk_type(registry);
#endif
#ifdef CONFIG_VIRTIO_SERIAL
    hw::virtio::register_virtio_serial_types(registry);   // + virtconsole, virtserialport
#endif
#ifdef CONFIG_VIRTIO_NET
    hw::virtio::register_virtio_net_type(registry);
#endif
    hw::virtio::register_virtio_pci_proxies(registry);
}

} // namespace nemu
