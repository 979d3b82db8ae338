// -m parsing and validation (QEMU 7.2 softmmu/vl.c parse_memory_options,
// hw/core/machine.c machine_set_mem).
#include "system/cmdline_memory.h"

#include <cctype>
#include <optional>

#include "system/keyval.h"
#include "util/size_parse.h"

namespace nemu::cmdline {

namespace {
constexpr std::string_view kSizeHint =
    "\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
    "and exabytes, respectively.";
constexpr uint64_t kRamAlign = 8192; // machine_set_mem: QEMU_ALIGN_UP(size, 8192)
} // namespace

Result<MemoryOptions> parse_memory_options(std::span<const std::string> args,
                                           uint64_t default_size) {
    std::optional<std::string> size_text, maxmem_text, slots_text;
    for (const std::string& arg : args) {
        auto located = [&](const std::string& msg) { return fail("-m {}: {}", arg, msg); };
        auto list = parse_opts(arg, "size");
        if (!list) return located(list.error().msg);
        // QemuOpts validates typed parameters while parsing, in the order given.
        for (const auto& kv : list->items) {
            if (kv.key == "size" || kv.key == "maxmem") {
                auto v = parse_size(kv.value, 'B', kv.key);
                if (!v) {
                    std::string msg = v.error().msg;
                    if (msg.find("expects") != std::string::npos) msg += kSizeHint;
                    return located(msg);
                }
                (kv.key == "size" ? size_text : maxmem_text) = kv.value;
            } else if (kv.key == "slots") {
                auto v = parse_uint(kv.value, "slots");
                if (!v) return located(v.error().msg);
                slots_text = kv.value;
            } else {
                return located(fmt::format("Invalid parameter '{}'", kv.key));
            }
        }
    }
    MemoryOptions m;
    m.size = default_size;
    if (size_text) {
        uint64_t sz = 0;
        (void)strtosz(*size_text, 'B', sz);
        if (sz != 0) {
            // Legacy suffix-less values are MiB: QEMU appends "M" and reparses as a size.
            std::string text = *size_text;
            if (std::isdigit(static_cast<unsigned char>(text.back()))) text += "M";
            if (strtosz(text, 'B', sz) != SizeError::None) {
                return fail("Parameter 'memory.size' expects size");
            }
            m.size = sz;
        }
    }
    if (m.size % kRamAlign) m.size += kRamAlign - m.size % kRamAlign;
    if (maxmem_text) {
        uint64_t max = 0;
        (void)strtosz(*maxmem_text, 'B', max);
        if (max < m.size) {
            return fail("invalid value of maxmem: maximum memory size (0x{:x}) must be at least "
                        "the initial memory size (0x{:x})", max, m.size);
        }
        uint64_t slots = 0;
        if (slots_text) (void)strtou64(*slots_text, 0, slots);
        if (slots && max == m.size) {
            return fail("invalid value of maxmem: memory slots were specified but maximum "
                        "memory size (0x{:x}) is equal to the initial memory size (0x{:x})",
                        max, m.size);
        }
        m.maxmem = max;
        m.slots = slots;
    } else {
        if (slots_text) return fail("slots specified but no max-size");
        m.maxmem = m.size;
    }
    return m;
}

} // namespace nemu::cmdline
