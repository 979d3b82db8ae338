#pragma once
// The VM's block graph (QEMU's graph_bdrv_states + the BlockBackend list): named nodes, the
// drives (-drive id= / BlockBackend names) and their roots, who uses which node.
// Owned by the Vm (no globals). Thread: main loop only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block/block_backend.h"
#include "block/block_node.h"
#include "block/block_open.h"
#include "util/json.h"
#include "util/result.h"

namespace nemu::block {

// A drive: what QEMU calls a BlockBackend with a name (query-block's "device").
struct Drive {
    std::string name;
    std::shared_ptr<BlockNode> root;     // null: no medium
    BackendOptions options;
    CacheOptions cache;                  // for query-block's cache member
    std::string qdev;                    // the attached device's id/path, "" when none
    ThrottleLimits throttle;             // what block_set_io_throttle last set
    // The I/O path, created by the system layer once block_backend.cpp is built; the graph
    // never names BlockBackend's out-of-line members so it links without it.
    std::shared_ptr<BlockBackend> backend;
};

class BlockGraph {
public:
    BlockGraph() = default;
    ~BlockGraph();   // detaches the error host
    BlockGraph(const BlockGraph&) = delete;
    BlockGraph& operator=(const BlockGraph&) = delete;

    // -blockdev / blockdev-add: opens the options' graph (the root needs a node-name, as
    // QEMU's "'node-name' must be specified for the root node") and registers every new node.
    Result<std::shared_ptr<BlockNode>> add_blockdev(const Json& options);
    // Registers a tree opened elsewhere (e.g. open_image for -drive): unnamed nodes get
    // "#blockNNN" names. monitor_owned: blockdev-del may delete its root.
    Result<> add_tree(const std::shared_ptr<BlockNode>& root, bool monitor_owned);
    // blockdev-del: only a monitor-owned root that nothing uses.
    Result<> delete_blockdev(std::string_view node_name);

    std::shared_ptr<BlockNode> find_node(std::string_view node_name) const;
    // For open_blockdev's references: node names (and, as QEMU, drive names' roots).
    NodeResolver resolver() const;
    // Every named node, newest first (query-named-block-nodes' order in QEMU 7.2).
    std::vector<std::shared_ptr<BlockNode>> nodes() const;

    // Drives. Names must be unique ("Duplicate ID 'x' for drive").
    Result<Drive*> add_drive(Drive drive);
    Drive* find_drive(std::string_view name);
    Result<> delete_drive(std::string_view name);
    std::vector<Drive*> drives();
    // QEMU's auto id for an if=none drive without id= is "none" + index (blockdev.c
    // drive_new: "%s%i" with if_name[type] and the unit's index).
    std::string next_drive_name(std::string_view if_name);
    // A device (or node-name) for block_resize / block_set_io_throttle: QEMU's lookup
    // "Cannot find device='x' nor node-name='y'".
    Result<std::shared_ptr<BlockNode>> lookup(std::string_view device, std::string_view node_name) const;
    // Unregisters the nodes that neither a drive nor a monitor-owned node reaches: what a
    // -drive that failed half-way (after add_tree, before add_drive) left behind.
    void collect_garbage();

    // Who uses node (as a child of another node or as a drive's root): "" when nobody.
    std::string user_of(const BlockNode& node) const;
    // Depth of the backing chain below node (query-block's backing_file_depth).
    static unsigned backing_depth(const BlockNode& node);

    // The VM's werror/rerror host, set by the system layer (system/block_setup.h) and given
    // to every backend created for the VM.
    const std::shared_ptr<IoErrorHost>& error_host() const { return m_error_host; }
    void set_error_host(std::shared_ptr<IoErrorHost> host) { m_error_host = std::move(host); }

private:
    struct Entry {
        std::shared_ptr<BlockNode> node;
        bool monitor_owned = false;
        uint64_t seq = 0;
    };
    std::string auto_node_name();
    Result<> register_node(const std::shared_ptr<BlockNode>& node, bool monitor_owned);

    std::vector<Entry> m_nodes;
    std::vector<std::unique_ptr<Drive>> m_drives;
    uint64_t m_seq = 0;
    uint64_t m_auto_id = 0;
    std::shared_ptr<IoErrorHost> m_error_host;
};

} // namespace nemu::block
