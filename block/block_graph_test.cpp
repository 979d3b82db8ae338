// BlockGraph: node names, auto names, drives, users and blockdev-del (QEMU 7.2's texts).
#include "block/block_graph.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace nemu::block {
namespace {

// A node with optional file/backing children, standing in for a format over a protocol.
class FakeNode final : public BlockNode {
public:
    FakeNode(std::shared_ptr<BlockNode> file = nullptr, std::shared_ptr<BlockNode> backing = nullptr)
        : BlockNode(false), m_file(std::move(file)), m_backing(std::move(backing)) {}
    std::string_view driver() const override { return "raw"; }
    uint64_t length() const override { return 512; }
    Result<> read(uint64_t, std::span<const iovec>) override { return {}; }
    Result<> write(uint64_t, std::span<const iovec>, bool) override { return {}; }
    Result<> flush() override { return {}; }
    NodeInfo info() const override { return NodeInfo{.format = "raw"}; }
    BlockNode* file_child() const override { return m_file.get(); }
    BlockNode* backing_child() const override { return m_backing.get(); }

private:
    std::shared_ptr<BlockNode> m_file, m_backing;
};

std::shared_ptr<BlockNode> named(std::shared_ptr<BlockNode> n, std::string name) {
    n->set_node_name(std::move(name));
    return n;
}

TEST(BlockGraph, AutoNamesAndOrder) {
    BlockGraph g;
    auto file = std::make_shared<FakeNode>();
    auto top = named(std::make_shared<FakeNode>(file), "top");
    ASSERT_TRUE(g.add_tree(top, true));
    EXPECT_EQ(file->node_name(), "#block000");
    auto nodes = g.nodes();
    ASSERT_EQ(nodes.size(), 2u);
    EXPECT_EQ(nodes[0]->node_name(), "top"); // newest first, as QEMU lists them
    EXPECT_EQ(g.find_node("#block000").get(), file.get());
    EXPECT_EQ(g.add_tree(named(std::make_shared<FakeNode>(), "top"), true).error().msg,
              "Duplicate nodes with node-name='top'");
}

TEST(BlockGraph, DeleteRules) {
    BlockGraph g;
    auto base = named(std::make_shared<FakeNode>(), "f1");
    ASSERT_TRUE(g.add_tree(base, true));
    auto q = named(std::make_shared<FakeNode>(base), "q1");
    ASSERT_TRUE(g.add_tree(q, true));
    EXPECT_EQ(g.delete_blockdev("f1").error().msg, "Block device f1 is in use");
    EXPECT_EQ(g.delete_blockdev("nope").error().msg, "Failed to find node with node-name='nope'");
    EXPECT_EQ(g.user_of(*base), "node 'q1' (file)");
    ASSERT_TRUE(g.delete_blockdev("q1"));
    EXPECT_EQ(g.user_of(*base), "");
    ASSERT_TRUE(g.delete_blockdev("f1"));
    EXPECT_TRUE(g.nodes().empty());
}

TEST(BlockGraph, ChildrenGoWithTheirRoot) {
    BlockGraph g;
    auto inner = std::make_shared<FakeNode>();
    auto root = named(std::make_shared<FakeNode>(inner), "r");
    ASSERT_TRUE(g.add_tree(root, true));
    std::string child = inner->node_name();
    EXPECT_EQ(g.delete_blockdev(child).error().msg, "Node " + child + " is not owned by the monitor");
    ASSERT_TRUE(g.delete_blockdev("r"));
    EXPECT_EQ(g.find_node(child), nullptr);
}

// A -drive snapshot=on registers its base before the overlay and the drive exist; when a
// later step fails, collect_garbage() takes the base out again, and only it.
TEST(BlockGraph, CollectGarbageDropsAnAbandonedTree) {
    BlockGraph g;
    Drive d;
    d.name = "kept";
    d.root = std::make_shared<FakeNode>();
    ASSERT_TRUE(g.add_drive(d));
    auto abandoned = std::make_shared<FakeNode>(std::make_shared<FakeNode>());
    ASSERT_TRUE(g.add_tree(abandoned, false));
    EXPECT_EQ(g.nodes().size(), 3u);
    g.collect_garbage();
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes()[0].get(), d.root.get());
}

TEST(BlockGraph, Drives) {
    BlockGraph g;
    EXPECT_EQ(g.next_drive_name("none"), "none0");
    Drive d;
    d.name = "none0";
    d.root = std::make_shared<FakeNode>(std::make_shared<FakeNode>());
    ASSERT_TRUE(g.add_drive(d));
    EXPECT_EQ(g.next_drive_name("none"), "none1");
    EXPECT_EQ(g.add_drive(d).error().msg, "Duplicate ID 'none0' for drive");
    EXPECT_EQ(g.nodes().size(), 2u);
    std::string root_name = d.root->node_name();
    EXPECT_EQ(g.user_of(*d.root), "drive 'none0'");
    EXPECT_EQ(g.resolver()("none0").get(), d.root.get());
    ASSERT_TRUE(g.lookup("none0", ""));
    ASSERT_TRUE(g.lookup("", root_name));
    EXPECT_EQ(g.lookup("x", "y").error().msg, "Cannot find device='x' nor node-name='y'");
    ASSERT_TRUE(g.delete_drive("none0"));
    EXPECT_TRUE(g.nodes().empty());
}

TEST(BlockGraph, BlockdevAddNeedsRootName) {
    // A real regular file: the file driver refuses /dev/null as QEMU does ("'file' driver
    // requires '/dev/null' to be a regular file").
    char path[] = "/tmp/nemu-block-graph-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 4096), 0);
    ::close(fd);
    struct Unlink {
        const char* p;
        ~Unlink() { ::unlink(p); }
    } unlink_at_end{path};
    BlockGraph g;
    std::string spec = std::string(R"({"driver":"file","filename":")") + path + "\"";
    auto j = parse_json(spec + "}");
    EXPECT_EQ(g.add_blockdev(*j).error().msg, "'node-name' must be specified for the root node");
    j = parse_json(spec + R"(,"node-name":"n"})");
    auto n = g.add_blockdev(*j);
    ASSERT_TRUE(n) << n.error().msg;
    EXPECT_EQ(g.add_blockdev(*j).error().msg, "Duplicate nodes with node-name='n'");
    EXPECT_EQ(BlockGraph::backing_depth(**n), 0u);
}

} // namespace
} // namespace nemu::block
