#include "block/vhd/vpc_format.h"

#include "block/vhd/vhd_node.h"

namespace nemu::block {

namespace {

// QEMU's vpc_probe looks for the cookie at offset 0 only, so fixed disks (footer at the end
// only) probe as raw there too.
int vpc_probe(std::span<const uint8_t> head, std::string_view /*filename*/) {
    return vhd::has_footer_cookie(head) ? 100 : 0;
}

Result<std::shared_ptr<BlockNode>> vpc_open(std::shared_ptr<BlockNode> file, const FormatOpenContext& ctx) {
    if (!file) return fail("vpc: no file child");
    vhd::SizeCalc calc = vhd::SizeCalc::Auto;
    if (ctx.options.is_object()) {
        const auto it = ctx.options.find("force_size_calc");
        if (it != ctx.options.end()) {
            if (!it->is_string()) return fail("Invalid parameter type for 'force_size_calc', expected: string");
            const std::string mode = it->get<std::string>();
            const auto parsed = vhd::parse_size_calc(mode);
            if (!parsed) return fail("Invalid size calculation mode: '{}'", mode);
            calc = *parsed;
        }
    }
    auto node = TRY(vhd::VhdNode::open(std::move(file), ctx.flags.read_only, calc));
    return std::shared_ptr<BlockNode>(std::move(node));
}

constexpr BlockFormat kVpcFormat{"vpc", vpc_probe, vpc_open};

} // namespace

const BlockFormat& vpc_format() { return kVpcFormat; }

} // namespace nemu::block
