// The VM's block graph. QEMU 7.2 texts: block.c bdrv_assign_node_name, blockdev.c
// qmp_blockdev_del / drive_new, block/block-backend.c; checked live against qemu-system-x86_64.
#include "block/block_graph.h"

#include <algorithm>
#include <set>

#include <fmt/core.h>

#include "block/block_format.h"

namespace nemu::block {

namespace {

void reach(const BlockNode* n, std::set<const BlockNode*>& out) {
    while (n && out.insert(n).second) {
        reach(n->file_child(), out);
        n = n->backing_child();
    }
}

} // namespace

BlockGraph::~BlockGraph() {
    if (m_error_host) m_error_host->detach();
}

std::string BlockGraph::auto_node_name() {
    // QEMU's id_generate(ID_BLOCK): "#block" and a three-digit-at-least counter. A '#' can
    // never start a user's node-name, so these never collide with one.
    return fmt::format("#block{:03}", m_auto_id++);
}

Result<> BlockGraph::register_node(const std::shared_ptr<BlockNode>& node, bool monitor_owned) {
    for (const Entry& e : m_nodes)
        if (e.node.get() == node.get()) return {};
    if (node->node_name().empty()) node->set_node_name(auto_node_name());
    else if (find_node(node->node_name())) return fail("Duplicate nodes with node-name='{}'", node->node_name());
    m_nodes.push_back(Entry{node, monitor_owned, m_seq++});
    return {};
}

Result<> BlockGraph::add_tree(const std::shared_ptr<BlockNode>& root, bool monitor_owned) {
    if (!root) return fail("no node");
    // Check every name first so that a failure registers nothing.
    std::set<const BlockNode*> all;
    reach(root.get(), all);
    std::set<std::string> names;
    for (const BlockNode* n : all) {
        bool known = std::any_of(m_nodes.begin(), m_nodes.end(), [&](const Entry& e) { return e.node.get() == n; });
        if (known || n->node_name().empty()) continue;
        if (find_node(n->node_name()) || !names.insert(n->node_name()).second)
            return fail("Duplicate nodes with node-name='{}'", n->node_name());
    }
    // QEMU's creation order (block.c bdrv_open_inherit): the file child, then the node
    // itself, then its backing chain; query-blockstats' query-nodes lists nodes in this
    // order. A child's entry aliases the root's ownership: formats own their children.
    std::vector<const BlockNode*> order;
    std::set<const BlockNode*> seen;
    auto walk = [&](auto& self, const BlockNode* n) -> void {
        if (!n || !seen.insert(n).second) return;
        self(self, n->file_child());
        order.push_back(n);
        self(self, n->backing_child());
    };
    walk(walk, root.get());
    for (const BlockNode* n : order) {
        if (n == root.get()) TRY(register_node(root, monitor_owned));
        else TRY(register_node(std::shared_ptr<BlockNode>(root, const_cast<BlockNode*>(n)), false));
    }
    return {};
}

Result<std::shared_ptr<BlockNode>> BlockGraph::add_blockdev(const Json& options) {
    // QEMU (blockdev.c qmp_blockdev_add) refuses a nameless root after the QAPI type check
    // and before opening anything: check it before open_blockdev when the driver is valid.
    if (options.is_object() && !options.contains("node-name")) {
        auto d = options.find("driver");
        if (d != options.end() && d->is_string()) {
            const std::string& name = d->get_ref<const std::string&>();
            if (name == "file" || name == "host_device" || find_block_format(name))
                return fail("'node-name' must be specified for the root node");
        }
    }
    auto node = TRY(open_blockdev(options, resolver()));
    if (node->node_name().empty()) return fail("'node-name' must be specified for the root node");
    TRY(add_tree(node, true));
    return node;
}

Result<> BlockGraph::delete_blockdev(std::string_view node_name) {
    auto it = std::find_if(m_nodes.begin(), m_nodes.end(), [&](const Entry& e) { return e.node->node_name() == node_name; });
    if (it == m_nodes.end()) return fail("Failed to find node with node-name='{}'", node_name);
    if (!it->monitor_owned) return fail("Node {} is not owned by the monitor", node_name);
    if (!user_of(*it->node).empty()) return fail("Block device {} is in use", node_name);
    m_nodes.erase(it);
    collect_garbage();
    return {};
}

void BlockGraph::collect_garbage() {
    // Nodes the monitor did not create live as long as a monitor-owned node or a drive
    // reaches them (QEMU's reference counting through the child links).
    std::set<const BlockNode*> live;
    for (const Entry& e : m_nodes)
        if (e.monitor_owned) reach(e.node.get(), live);
    for (const auto& d : m_drives)
        if (d->root) reach(d->root.get(), live);
    std::erase_if(m_nodes, [&](const Entry& e) { return !e.monitor_owned && !live.contains(e.node.get()); });
}

std::shared_ptr<BlockNode> BlockGraph::find_node(std::string_view node_name) const {
    for (const Entry& e : m_nodes)
        if (e.node->node_name() == node_name) return e.node;
    return nullptr;
}

NodeResolver BlockGraph::resolver() const {
    return [this](std::string_view name) -> std::shared_ptr<BlockNode> {
        if (auto n = find_node(name)) return n;
        for (const auto& d : m_drives)
            if (d->name == name && d->root) return d->root;
        return nullptr;
    };
}

std::vector<std::shared_ptr<BlockNode>> BlockGraph::nodes() const {
    std::vector<std::shared_ptr<BlockNode>> out;
    for (auto it = m_nodes.rbegin(); it != m_nodes.rend(); ++it) out.push_back(it->node);
    return out;
}

Result<Drive*> BlockGraph::add_drive(Drive drive) {
    if (find_drive(drive.name)) return fail("Duplicate ID '{}' for drive", drive.name);
    if (drive.root) TRY(add_tree(drive.root, false));
    m_drives.push_back(std::make_unique<Drive>(std::move(drive)));
    return m_drives.back().get();
}

Drive* BlockGraph::find_drive(std::string_view name) {
    for (auto& d : m_drives)
        if (d->name == name) return d.get();
    return nullptr;
}

Result<> BlockGraph::delete_drive(std::string_view name) {
    auto it = std::find_if(m_drives.begin(), m_drives.end(), [&](const auto& d) { return d->name == name; });
    if (it == m_drives.end()) return fail("Device '{}' not found", name);
    m_drives.erase(it);
    collect_garbage();
    return {};
}

std::vector<Drive*> BlockGraph::drives() {
    std::vector<Drive*> out;
    for (auto& d : m_drives) out.push_back(d.get());
    return out;
}

std::string BlockGraph::next_drive_name(std::string_view if_name) {
    for (unsigned i = 0;; i++) {
        std::string n = fmt::format("{}{}", if_name, i);
        if (!find_drive(n)) return n;
    }
}

Result<std::shared_ptr<BlockNode>> BlockGraph::lookup(std::string_view device, std::string_view node_name) const {
    if (!device.empty()) {
        for (const auto& d : m_drives)
            if (d->name == device) {
                if (!d->root) return fail("Device '{}' has no medium", device);
                return d->root;
            }
    }
    if (!node_name.empty())
        if (auto n = find_node(node_name)) return n;
    return fail("Cannot find device='{}' nor node-name='{}'", device, node_name);
}

std::string BlockGraph::user_of(const BlockNode& node) const {
    for (const Entry& e : m_nodes) {
        if (e.node->file_child() == &node) return fmt::format("node '{}' (file)", e.node->node_name());
        if (e.node->backing_child() == &node) return fmt::format("node '{}' (backing)", e.node->node_name());
    }
    for (const auto& d : m_drives)
        if (d->root.get() == &node) return fmt::format("drive '{}'", d->name);
    return "";
}

unsigned BlockGraph::backing_depth(const BlockNode& node) {
    unsigned depth = 0;
    // Skip filter-less format layers: the chain is the format nodes' backing links.
    for (const BlockNode* b = node.backing_child(); b && depth <= kMaxBackingChain; b = b->backing_child()) depth++;
    return depth;
}

} // namespace nemu::block
