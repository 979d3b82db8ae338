#include "block/vhd/vhd_node.h"

#include <algorithm>
#include <cerrno>

namespace nemu::block::vhd {

namespace {

Result<> write_buf(BlockNode& file, uint64_t offset, std::span<const uint8_t> buf) {
    iovec v{const_cast<uint8_t*>(buf.data()), buf.size()};
    return file.write(offset, std::span<const iovec>(&v, 1), false);
}

// Writes zeroes over [offset, offset + len) in bounded pieces.
Result<> write_zero_range(BlockNode& file, uint64_t offset, uint64_t len) {
    constexpr uint64_t kChunk = 1 << 20;
    const std::vector<uint8_t> zeroes(std::min(len, kChunk), 0);
    while (len > 0) {
        const uint64_t n = std::min<uint64_t>(len, zeroes.size());
        TRY(write_buf(file, offset, std::span<const uint8_t>(zeroes.data(), n)));
        offset += n;
        len -= n;
    }
    return {};
}

Result<> read_footer_at(BlockNode& file, uint64_t offset, std::array<uint8_t, kFooterSize>& out) {
    iovec v{out.data(), out.size()};
    if (auto r = file.read(offset, std::span<const iovec>(&v, 1)); !r)
        return fail("Unable to read VHD header: {}", r.error().msg);
    return {};
}

} // namespace

Result<std::shared_ptr<VhdNode>> VhdNode::open(std::shared_ptr<BlockNode> file, bool read_only, SizeCalc calc) {
    const uint64_t file_size = file->length();
    // QEMU sees file sizes rounded up to a sector, so it reports a short file as invalid.
    if (file_size < kFooterSize) return fail("invalid VPC image");
    std::array<uint8_t, kFooterSize> buf{};
    TRY(read_footer_at(*file, 0, buf));

    State s;
    // QEMU's vpc_open: a footer copy at offset 0 means a dynamic (or differencing) disk and is
    // the one used; otherwise the footer at the end, which must describe a fixed disk.
    s.dynamic = has_footer_cookie(buf);
    if (!s.dynamic) {
        TRY(read_footer_at(*file, file_size - kFooterSize, buf));
        if (!has_footer_cookie(buf)) return fail("invalid VPC image");
    }
    s.footer = TRY(parse_footer(buf));
    const auto type = static_cast<DiskType>(s.footer.disk_type);
    if (type == DiskType::Differencing) return fail("Differencing VHD images are not supported");
    if (!s.dynamic && type != DiskType::Fixed) return fail("invalid VPC image");
    // QEMU would treat other types found at offset 0 as dynamic and a "fixed" one there as
    // raw data overlapping its own footer; nemu refuses both.
    if (s.dynamic && type != DiskType::Dynamic) return fail("Unsupported VHD disk type {}", s.footer.disk_type);
    s.size = TRY(virtual_size(s.footer, calc));

    if (s.dynamic) {
        s.layout = TRY(load_dynamic_layout(*file, s.footer, s.size));
    } else {
        s.fixed_data_end = file_size - kFooterSize;
    }
    s.file = std::move(file);
    try {
        return std::make_shared<VhdNode>(std::move(s), read_only);
    } catch (const std::bad_alloc&) {
        return fail("Unable to allocate memory for page table");
    }
}

VhdNode::VhdNode(State s, bool read_only)
    : BlockNode(read_only), m_file(std::move(s.file)), m_footer(s.footer), m_size(s.size),
      m_dynamic(s.dynamic), m_fixed_data_end(s.fixed_data_end), m_layout(std::move(s.layout)),
      m_bitmap_full(m_layout.entries.size(), false) {}

Result<> VhdNode::read(uint64_t offset, std::span<const iovec> iov) {
    TRY(check_request(offset, iov_size(iov), false));
    return m_dynamic ? read_dynamic(offset, iov) : read_fixed(offset, iov);
}

Result<> VhdNode::write(uint64_t offset, std::span<const iovec> iov, bool fua) {
    TRY(check_request(offset, iov_size(iov), true));
    TRY(m_dynamic ? write_dynamic(offset, iov) : write_fixed(offset, iov));
    if (fua) TRY(m_file->flush());
    return {};
}

Result<> VhdNode::flush() { return m_file->flush(); }

// Fixed disk: the data is the file up to the footer. A footer that claims more than the
// file holds reads as zeroes beyond the data (QEMU reads past EOF the same way); writes there
// are refused rather than overwriting the footer as QEMU would.
Result<> VhdNode::read_fixed(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t len = iov_size(iov);
    const uint64_t in_file = offset >= m_fixed_data_end ? 0 : std::min(len, m_fixed_data_end - offset);
    if (in_file > 0) {
        const auto part = iov_slice(iov, 0, in_file);
        TRY(m_file->read(offset, part));
    }
    if (in_file < len) iov_memset(iov, in_file, len - in_file, 0);
    return {};
}

Result<> VhdNode::write_fixed(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t len = iov_size(iov);
    if (offset > m_fixed_data_end || len > m_fixed_data_end - offset)
        return io_error(EIO, "Write past the data area of a fixed VHD image");
    return m_file->write(offset, iov, false);
}

Result<uint64_t> VhdNode::block_data_offset(uint32_t entry) const {
    if (m_layout.overlaps_metadata(entry))
        return io_error(EIO, fmt::format("VHD block at sector {} overlaps the image metadata", entry));
    return m_layout.block_start(entry) + m_layout.bitmap_size;
}

Result<> VhdNode::read_dynamic(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t total = iov_size(iov);
    const uint64_t bs = m_layout.block_size;
    for (uint64_t done = 0; done < total;) {
        const uint64_t pos = offset + done;
        const auto index = static_cast<uint32_t>(pos / bs);
        const uint64_t in_block = pos % bs;
        const uint64_t n = std::min(total - done, bs - in_block);
        uint32_t entry;
        {
            std::lock_guard lock(m_mutex);
            entry = m_layout.entries[index];
        }
        if (entry == kUnallocated) {
            iov_memset(iov, done, n, 0); // no parent: unallocated blocks read as zeroes
        } else {
            const uint64_t data = TRY(block_data_offset(entry));
            const auto part = iov_slice(iov, done, n);
            TRY(m_file->read(data + in_block, part));
        }
        done += n;
    }
    return {};
}

Result<> VhdNode::fill_bitmap(uint64_t bitmap_offset) {
    // QEMU sets every bit of a block's bitmap when it writes to the block (vpc.c
    // get_image_offset/alloc_block): correct for readers that honour the bitmap, since
    // QEMU and nemu read the whole block regardless.
    const std::vector<uint8_t> ones(m_layout.bitmap_size, 0xff);
    return write_buf(*m_file, bitmap_offset, ones);
}

Result<> VhdNode::write_dynamic(uint64_t offset, std::span<const iovec> iov) {
    const uint64_t total = iov_size(iov);
    const uint64_t bs = m_layout.block_size;
    for (uint64_t done = 0; done < total;) {
        const uint64_t pos = offset + done;
        const auto index = static_cast<uint32_t>(pos / bs);
        const uint64_t in_block = pos % bs;
        const uint64_t n = std::min(total - done, bs - in_block);
        const auto part = iov_slice(iov, done, n);
        uint64_t data_offset;
        {
            std::unique_lock lock(m_mutex);
            const uint32_t entry = m_layout.entries[index];
            if (entry == kUnallocated) {
                TRY(allocate_block(index, in_block, part));
                done += n;
                continue;
            }
            data_offset = TRY(block_data_offset(entry));
            if (!m_bitmap_full[index]) {
                TRY(fill_bitmap(m_layout.block_start(entry)));
                m_bitmap_full[index] = true;
            }
        }
        TRY(m_file->write(data_offset + in_block, part, false));
        done += n;
    }
    return {};
}

// Appends a block where the end-of-file footer copy lies (QEMU's free_data_block_offset).
// The order keeps the image valid for qemu-img whenever the process dies:
//   1. bitmap + the request's data (+ zeroes where old file bytes would show through) —
//      this overwrites the end footer, but QEMU opens dynamic disks by the copy at offset 0
//      and the BAT still says "unallocated";
//   2. the footer at the new end — the file now covers the whole block, so a BAT entry
//      pointing at it never makes QEMU report a truncated image;
//   3. flush, then the BAT entry: the commit point. A crash before it only leaks the space,
//      which the next allocation reuses.
Result<> VhdNode::allocate_block(uint32_t index, uint64_t in_block, std::span<const iovec> data) {
    const uint64_t start = m_layout.free_offset;
    const uint64_t data_start = start + m_layout.bitmap_size;
    const uint64_t new_end = data_start + m_layout.block_size;
    if (new_end / kSectorSize > 0xffffffffULL || start % kSectorSize != 0)
        return io_error(EIO, "VHD image cannot grow further");
    const uint64_t len = iov_size(data);
    const uint64_t file_size = m_file->length();

    TRY(fill_bitmap(start));
    TRY(m_file->write(data_start + in_block, data, false));
    // Bytes of the new block already in the file (past the old footer) must read as zeroes.
    if (file_size > data_start) {
        const uint64_t head_end = std::min(data_start + in_block, file_size);
        if (head_end > data_start) TRY(write_zero_range(*m_file, data_start, head_end - data_start));
        const uint64_t tail = data_start + in_block + len;
        const uint64_t tail_end = std::min(new_end, file_size);
        if (tail_end > tail) TRY(write_zero_range(*m_file, tail, tail_end - tail));
    }
    TRY(write_buf(*m_file, new_end, m_footer.raw));
    TRY(m_file->flush());

    uint8_t entry_be[4];
    const auto entry = static_cast<uint32_t>(start / kSectorSize);
    store_be32(entry_be, entry);
    TRY(write_buf(*m_file, m_layout.bat_offset + uint64_t{index} * 4, entry_be));
    m_layout.entries[index] = entry;
    m_layout.free_offset = new_end;
    m_bitmap_full[index] = true;
    return {};
}

HostExtent VhdNode::map(uint64_t offset, uint64_t length, bool for_write) {
    constexpr auto kIndirect = HostExtent::Kind::Indirect;
    if (length == 0 || offset > m_size || length > m_size - offset) return HostExtent{kIndirect, std::max<uint64_t>(length, 1)};
    if (!m_dynamic) {
        if (offset >= m_fixed_data_end)
            return HostExtent{for_write ? kIndirect : HostExtent::Kind::Zero, length};
        return m_file->map(offset, std::min(length, m_fixed_data_end - offset), for_write);
    }
    const uint64_t bs = m_layout.block_size;
    const auto index = static_cast<uint32_t>(offset / bs);
    const uint64_t in_block = offset % bs;
    uint64_t n = std::min(length, bs - in_block);
    std::unique_lock lock(m_mutex);
    const uint32_t entry = m_layout.entries[index];
    if (entry == kUnallocated) {
        if (for_write) return HostExtent{kIndirect, n};
        // Reads: extend the zero run over the following unallocated blocks.
        for (uint64_t i = index + 1; n < length && m_layout.entries[i] == kUnallocated; ++i)
            n = std::min(length, n + bs);
        return HostExtent{HostExtent::Kind::Zero, n};
    }
    if ((for_write && !m_bitmap_full[index]) || m_layout.overlaps_metadata(entry)) return HostExtent{kIndirect, n};
    const uint64_t host = m_layout.block_start(entry) + m_layout.bitmap_size + in_block;
    lock.unlock();
    HostExtent e = m_file->map(host, n, for_write);
    e.length = std::min(e.length, n);
    return e;
}

NodeInfo VhdNode::info() const {
    NodeInfo child = m_file->info();
    NodeInfo i;
    i.format = "vpc";
    i.filename = child.filename;
    i.virtual_size = m_size;
    i.actual_size = child.actual_size;
    i.cluster_size = m_dynamic ? m_layout.block_size : 0; // vpc_co_get_info: dynamic only
    i.format_specific = nullptr;                          // QEMU has no vpc-specific info
    return i;
}

} // namespace nemu::block::vhd
