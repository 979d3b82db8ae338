#pragma once
// Type registration of each backend, one per file; called by register_chardev_types().

namespace nemu::qom {
class TypeRegistry;
}

namespace nemu::chardev {

void register_socket_type(qom::TypeRegistry& registry);
void register_stdio_type(qom::TypeRegistry& registry);
void register_null_type(qom::TypeRegistry& registry);
void register_file_type(qom::TypeRegistry& registry);
void register_pty_type(qom::TypeRegistry& registry);
void register_ringbuf_types(qom::TypeRegistry& registry);
void register_mux_type(qom::TypeRegistry& registry);

} // namespace nemu::chardev
