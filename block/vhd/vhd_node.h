#pragma once
// A vpc (VHD) format node over a file child: fixed and dynamic disks, read and write
// (Microsoft "Virtual Hard Disk Image Format Specification"; behaviour follows QEMU 7.2's
// block/vpc.c where the spec leaves room). Differencing disks are refused at open.
//
// Threading: any worker thread may call any method concurrently. m_mutex guards the BAT, the
// free offset and the bitmap bookkeeping; it is held across metadata writes (allocation) but
// not across data I/O to blocks that are already allocated.

#include <memory>
#include <mutex>
#include <vector>

#include "block/block_node.h"
#include "block/vhd/vhd_dynamic.h"
#include "block/vhd/vhd_footer.h"

namespace nemu::block::vhd {

class VhdNode final : public BlockNode {
public:
    // Reads and checks the footer (offset 0 first, as QEMU: a dynamic disk keeps a copy
    // there; otherwise the end of the file, which must then be a fixed disk), then for a
    // dynamic disk its header and BAT. Never writes to the file.
    static Result<std::shared_ptr<VhdNode>> open(std::shared_ptr<BlockNode> file, bool read_only,
                                                 SizeCalc calc = SizeCalc::Auto);

    std::string_view driver() const override { return "vpc"; }
    uint64_t length() const override { return m_size; }
    Result<> read(uint64_t offset, std::span<const iovec> iov) override;
    Result<> write(uint64_t offset, std::span<const iovec> iov, bool fua) override;
    Result<> flush() override;
    HostExtent map(uint64_t offset, uint64_t length, bool for_write) override;
    NodeInfo info() const override;
    BlockNode* file_child() const override { return m_file.get(); }

    bool is_dynamic() const { return m_dynamic; }
    uint32_t block_size() const { return m_dynamic ? m_layout.block_size : 0; }

    // Private state, public only so open() can build it (constructors cannot fail).
    struct State {
        std::shared_ptr<BlockNode> file;
        VhdFooter footer;
        uint64_t size = 0;
        bool dynamic = false;
        uint64_t fixed_data_end = 0; // fixed: bytes of data before the footer
        DynamicLayout layout;
    };
    VhdNode(State s, bool read_only);

private:
    Result<> read_fixed(uint64_t offset, std::span<const iovec> iov);
    Result<> write_fixed(uint64_t offset, std::span<const iovec> iov);
    Result<> read_dynamic(uint64_t offset, std::span<const iovec> iov);
    Result<> write_dynamic(uint64_t offset, std::span<const iovec> iov);
    // Under m_mutex: a new block for `index` at the end of the file, with `data` (the part
    // of the request inside the block, at in_block) written into it.
    Result<> allocate_block(uint32_t index, uint64_t in_block, std::span<const iovec> data);
    Result<> fill_bitmap(uint64_t bitmap_offset);
    // The file offset of a block's data area, or EIO when the BAT entry is unusable.
    Result<uint64_t> block_data_offset(uint32_t entry) const;

    std::shared_ptr<BlockNode> m_file;
    const VhdFooter m_footer;
    const uint64_t m_size;
    const bool m_dynamic;
    const uint64_t m_fixed_data_end;

    mutable std::mutex m_mutex;
    DynamicLayout m_layout;            // entries and free_offset guarded by m_mutex
    std::vector<bool> m_bitmap_full;   // guarded by m_mutex: block bitmap known all ones
};

} // namespace nemu::block::vhd
