// chardev-null: swallows output, never produces input (QEMU chardev/char-null.c).

#include "chardev/backends.h"
#include "chardev/chardev.h"
#include "qom/type_registry.h"

namespace nemu::chardev {

namespace {
class NullChardev final : public Chardev {
public:
    Result<size_t> write(std::span<const uint8_t> data) override { return data.size(); }
    std::string filename() const override { return "null"; }

protected:
    Result<> open_backend(const ChardevOptions&) override {
        set_connected(true);
        return {};
    }
};
} // namespace

void register_null_type(qom::TypeRegistry& registry) {
    qom::TypeInfo t;
    t.name = "chardev-null";
    t.parent = "chardev";
    t.create = [] { return std::make_unique<NullChardev>(); };
    registry.add(std::move(t));
}

} // namespace nemu::chardev
