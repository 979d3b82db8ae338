#include "block/raw_format.h"

#include <cerrno>
#include <cstdint>
#include <optional>

namespace nemu::block {

namespace {

constexpr uint64_t kSectorSize = 512; // BDRV_SECTOR_SIZE

class RawNode final : public BlockNode {
public:
    RawNode(std::shared_ptr<BlockNode> file, uint64_t offset, std::optional<uint64_t> size, bool read_only,
            bool offset_given)
        : BlockNode(read_only), m_file(std::move(file)), m_offset(offset), m_size(size), m_offset_given(offset_given) {}

    std::string_view driver() const override { return "raw"; }

    // raw_getlength: the fixed size, or whatever of the child lies past the offset (the
    // child may grow or shrink under block_resize).
    uint64_t length() const override {
        if (m_size) return *m_size;
        const uint64_t child = m_file->length();
        return child > m_offset ? child - m_offset : 0;
    }

    Result<> read(uint64_t offset, std::span<const iovec> iov) override {
        TRY(check_request(offset, iov_size(iov), false));
        return m_file->read(m_offset + offset, iov);
    }
    Result<> write(uint64_t offset, std::span<const iovec> iov, bool fua) override {
        TRY(check_request(offset, iov_size(iov), true));
        return m_file->write(m_offset + offset, iov, fua);
    }
    Result<> flush() override { return m_file->flush(); }
    Result<> discard(uint64_t offset, uint64_t len) override {
        TRY(check_request(offset, len, true));
        return m_file->discard(m_offset + offset, len);
    }
    Result<> write_zeroes(uint64_t offset, uint64_t len, bool may_unmap) override {
        TRY(check_request(offset, len, true));
        return m_file->write_zeroes(m_offset + offset, len, may_unmap);
    }
    // raw_co_truncate: a fixed size cannot change; with only an offset the child grows.
    Result<> truncate(uint64_t new_length) override {
        if (read_only()) return io_error(EPERM, "Block node is read-only");
        if (m_size) return io_error(ENOTSUP, "Cannot resize fixed-size raw disks");
        if (new_length > static_cast<uint64_t>(INT64_MAX) - m_offset)
            return io_error(EINVAL, "Disk size too large for the chosen offset");
        return m_file->truncate(m_offset + new_length);
    }
    HostExtent map(uint64_t offset, uint64_t len, bool for_write) override {
        if (!check_request(offset, len, for_write) || len == 0) return HostExtent{HostExtent::Kind::Indirect, len, -1, 0};
        HostExtent e = m_file->map(m_offset + offset, len, for_write);
        if (e.length == 0 || e.length > len) e.length = len;
        return e;
    }
    NodeInfo info() const override {
        NodeInfo ni;
        ni.format = "raw";
        const NodeInfo child = m_file->info();
        ni.filename = child.filename;
        ni.virtual_size = length();
        ni.actual_size = child.actual_size;
        ni.format_specific = nullptr;
        return ni;
    }
    BlockNode* file_child() const override { return m_file.get(); }
    // raw_strong_runtime_opts: offset and size, when given (even as 0).
    Json strong_options() const override {
        Json j = Json::object();
        if (m_offset_given) j["offset"] = m_offset;
        if (m_size) j["size"] = *m_size;
        return j;
    }

private:
    std::shared_ptr<BlockNode> m_file;
    uint64_t m_offset;
    std::optional<uint64_t> m_size;
    bool m_offset_given;
};

int raw_probe(std::span<const uint8_t>, std::string_view) { return 1; }

// An optional non-negative integer member; QEMU's messages for the wrong type or sign.
Result<std::optional<uint64_t>> uint_option(const Json& opts, const char* name) {
    if (!opts.is_object()) return std::optional<uint64_t>();
    auto it = opts.find(name);
    if (it == opts.end()) return std::optional<uint64_t>();
    if (it->is_number_unsigned()) return std::optional<uint64_t>(it->get<uint64_t>());
    if (it->is_number_integer()) {
        const int64_t v = it->get<int64_t>();
        if (v < 0) return fail("Parameter '{}' expects a non-negative number below 2^64", name);
        return std::optional<uint64_t>(static_cast<uint64_t>(v));
    }
    return fail("Invalid parameter type for '{}', expected: integer", name);
}

Result<std::shared_ptr<BlockNode>> raw_open(std::shared_ptr<BlockNode> file, const FormatOpenContext& ctx) {
    if (!file) return fail("raw: no file child");
    const auto offset_opt = TRY(uint_option(ctx.options, "offset"));
    const auto size = TRY(uint_option(ctx.options, "size"));
    const uint64_t offset = offset_opt.value_or(0);
    const uint64_t real_size = file->length();
    // raw_apply_options, in QEMU's order.
    if (offset > real_size)
        return fail("Offset ({}) cannot be greater than size of the containing file ({})", offset, real_size);
    if (size && *size > real_size - offset)
        return fail("The sum of offset ({}) and size ({}) has to be smaller or equal to the  actual size of the "
                    "containing file ({})",
                    offset, *size, real_size);
    if (size && *size % kSectorSize != 0) return fail("Specified size is not multiple of {}", kSectorSize);
    const bool read_only = ctx.flags.read_only || file->read_only();
    return std::shared_ptr<BlockNode>(std::make_shared<RawNode>(std::move(file), offset, size, read_only, offset_opt.has_value()));
}

constexpr BlockFormat kRawFormat{"raw", raw_probe, raw_open};

} // namespace

const BlockFormat& raw_format() { return kRawFormat; }

} // namespace nemu::block
