// Memory backends; expectations from qemu-system-x86_64 -M none -accel tcg -object ... and
// qom-set on the same objects (QEMU 7.2).
#include "backends/backends_test_support.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

namespace nemu::backends::test {
namespace {

constexpr uint64_t kMiB = 1ULL << 20;

bool host_has_free_hugepages() {
    std::ifstream f("/proc/sys/vm/nr_hugepages");
    long n = 0;
    f >> n;
    return n > 0;
}

// Whether a write by a forked child shows in the parent: the mark of a MAP_SHARED mapping.
bool child_write_visible(uint8_t* p) {
    p[0] = 1;
    pid_t pid = ::fork();
    if (pid == 0) {
        p[0] = 42;
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return p[0] == 42;
}

using HostMemTest = BackendTest;

TEST_F(HostMemTest, RamBackend) {
    auto b = make("memory-backend-ram", "r", {{"size", 4 * kMiB}});
    ASSERT_TRUE(b) << b.error().msg;
    EXPECT_EQ((*b)->size(), 4 * kMiB);
    EXPECT_EQ((*b)->fd(), -1);
    (*b)->host()[4 * kMiB - 1] = 7;
    EXPECT_FALSE(child_write_visible((*b)->host()));
    EXPECT_EQ((*b)->ram_block_name(), "/r");  // canonical path (the container is the root here)

    auto s = make("memory-backend-ram", "s", {{"size", kMiB}, {"share", true}});
    ASSERT_TRUE(s) << s.error().msg;
    EXPECT_TRUE(child_write_visible((*s)->host()));
}

TEST_F(HostMemTest, CommonPropertyErrors) {
    EXPECT_EQ(err("memory-backend-ram", {{"size", 0}}), "property 'size' of memory-backend-ram doesn't take value '0'");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"prealloc-threads", 0}}),
              "property 'prealloc-threads' of memory-backend-ram doesn't take value '0'");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"reserve", false}, {"prealloc", true}}),
              "'prealloc=on' and 'reserve=off' are incompatible");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"prealloc", true}, {"reserve", false}}),
              "'prealloc=on' and 'reserve=off' are incompatible");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"policy", "bind"}}), "host-nodes must be set for policy bind");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"host-nodes", {0}}}),
              "host-nodes must be empty for policy default, or you should explicitly specify a policy other than default");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"host-nodes", {2000}}, {"policy", "bind"}}),
              "Invalid host-nodes value: 2000");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"policy", "nearest"}}),
              "Parameter 'policy' does not accept value 'nearest'");
    EXPECT_EQ(err("memory-backend-ram", {{"size", kMiB}, {"host-nodes", {5}}, {"policy", "bind"}}),
              "cannot bind memory to host NUMA nodes: Invalid argument");
    EXPECT_EQ(m_objects->children().size(), 0u);
    // A huge private mapping with reserve=on is subject to overcommit accounting, as QEMU's.
    EXPECT_EQ(err("memory-backend-ram", {{"size", 1ULL << 52}, {"prealloc", false}}),
              "cannot set up guest memory 'm': Cannot allocate memory");
}

TEST_F(HostMemTest, SetAfterCompletion) {
    auto b = make("memory-backend-ram", "r", {{"size", kMiB}});
    ASSERT_TRUE(b);
    qom::Object& o = **b;
    EXPECT_EQ(o.set_property("share", true).error().msg, "cannot change property value");
    EXPECT_EQ(o.set_property("reserve", false).error().msg, "cannot change property value");
    EXPECT_EQ(o.set_property("size", 2 * kMiB).error().msg, "cannot change property size of memory-backend-ram ");
    EXPECT_TRUE(o.set_property("merge", false));
    EXPECT_TRUE(o.set_property("dump", false));
    EXPECT_TRUE(o.set_property("prealloc-threads", 4));
    EXPECT_TRUE(o.set_property("prealloc", true));  // preallocates now
    unsigned char vec = 0;
    ASSERT_EQ(::mincore((*b)->host(), 4096, &vec), 0);
    EXPECT_EQ(vec & 1, 1);
    EXPECT_TRUE(o.set_property("x-use-canonical-path-for-ramblock-id", false));
    EXPECT_EQ((*b)->ram_block_name(), "r");
}

TEST_F(HostMemTest, MemfdSealedAndShared) {
    auto b = make("memory-backend-memfd", "mf", {{"size", 2 * kMiB}});
    ASSERT_TRUE(b) << b.error().msg;
    EXPECT_TRUE(*(*b)->get_property("share"));  // memfd defaults to share=on
    EXPECT_TRUE(*(*b)->get_property("seal"));
    int fd = (*b)->fd();
    ASSERT_GE(fd, 0);
    int seals = ::fcntl(fd, F_GET_SEALS);
    EXPECT_EQ(seals, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
    EXPECT_NE(::ftruncate(fd, 4 * kMiB), 0);
    EXPECT_EQ(errno, EPERM);
    EXPECT_TRUE(child_write_visible((*b)->host()));
    // Shared: what the guest writes is what the descriptor holds (vhost-user's view).
    (*b)->host()[100] = 0x5a;
    uint8_t byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, 100), 1);
    EXPECT_EQ(byte, 0x5a);

    auto u = make("memory-backend-memfd", "u", {{"size", kMiB}, {"seal", false}, {"share", false}});
    ASSERT_TRUE(u) << u.error().msg;
    EXPECT_EQ(::fcntl((*u)->fd(), F_GET_SEALS), F_SEAL_SEAL);  // sealing not allowed at all
    EXPECT_FALSE(child_write_visible((*u)->host()));
}

TEST_F(HostMemTest, MemfdHugetlbErrors) {
    EXPECT_EQ(err("memory-backend-memfd", {{"size", 2 * kMiB}, {"hugetlb", true}, {"hugetlbsize", 3 * kMiB}}),
              "Hugepage size must be a power of 2");
    EXPECT_EQ(err("memory-backend-memfd", {{"size", 2 * kMiB}, {"hugetlbsize", 0}}),
              "Property 'memory-backend-memfd.hugetlbsize' doesn't take value '0'");
    // Not a multiple of the huge page size: the kernel refuses the size (QEMU's message).
    EXPECT_EQ(err("memory-backend-memfd", {{"size", kMiB}, {"hugetlb", true}}),
              "failed to resize memfd to 1048576: Invalid argument");
    // A page size the host does not have.
    EXPECT_EQ(err("memory-backend-memfd", {{"size", 2 * kMiB}, {"hugetlb", true}, {"hugetlbsize", 4 * kMiB}}),
              "failed to create memfd with flags 0x58000007: No such device");
    if (host_has_free_hugepages()) GTEST_SKIP() << "host has huge pages configured";
    // No huge pages reserved: a clear error, never small pages instead.
    EXPECT_EQ(err("memory-backend-memfd", {{"size", 2 * kMiB}, {"hugetlb", true}}),
              "unable to map backing store for guest RAM: Cannot allocate memory");
    // reserve=off maps without a reservation: the failure shows when the pages are touched.
    EXPECT_EQ(err("memory-backend-memfd", {{"size", 2 * kMiB}, {"hugetlb", true}, {"reserve", false}, {"prealloc", false}}),
              "(no error)");
    auto made = make("memory-backend-memfd", "m", {{"size", 2 * kMiB}, {"hugetlb", true}, {"reserve", false}});
    ASSERT_TRUE(made) << made.error().msg;
    qom::Object* b = *made;
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(static_cast<HostMemoryBackend*>(b)->page_size(), 2 * kMiB);
    EXPECT_EQ(b->set_property("hugetlbsize", 2 * kMiB).error().msg, "cannot change property value");
}

TEST_F(HostMemTest, FileBackendInDirectory) {
    auto b = make("memory-backend-file", "f", {{"size", 2 * kMiB}, {"mem-path", m_dir.string()}});
    ASSERT_TRUE(b) << b.error().msg;
    EXPECT_EQ(entries(), 0u);  // the temporary file is unlinked at once
    EXPECT_GE((*b)->fd(), 0);
    (*b)->host()[0] = 1;
    EXPECT_EQ((*b)->get_property("mem-path")->get<std::string>(), m_dir.string());
    EXPECT_EQ((*b)->set_property("mem-path", "/x").error().msg, "cannot change property 'mem-path' of memory-backend-file");
    EXPECT_EQ((*b)->set_property("readonly", true).error().msg, "cannot change property 'readonly' of memory-backend-file.");
    EXPECT_EQ((*b)->set_property("align", 4096).error().msg, "cannot change property 'align' of memory-backend-file");
    EXPECT_TRUE((*b)->set_property("discard-data", true));
}

TEST_F(HostMemTest, FileBackendShareOnOff) {
    std::string path = (m_dir / "ram").string();
    {
        auto b = make("memory-backend-file", "f", {{"size", kMiB}, {"mem-path", path}, {"share", true}});
        ASSERT_TRUE(b) << b.error().msg;
        EXPECT_EQ(std::filesystem::file_size(path), kMiB);  // a new file is sized
        std::memcpy((*b)->host() + 4096, "guest", 5);
    }
    m_objects->remove_child("f");
    char buf[6] = {};
    std::ifstream(path).seekg(4096).read(buf, 5);
    EXPECT_STREQ(buf, "guest");  // share=on writes reach the file

    {
        auto b = make("memory-backend-file", "p", {{"size", kMiB}, {"mem-path", path}});
        ASSERT_TRUE(b) << b.error().msg;
        EXPECT_EQ(std::memcmp((*b)->host() + 4096, "guest", 5), 0);  // contents are kept
        std::memcpy((*b)->host() + 4096, "xxxxx", 5);
        EXPECT_FALSE(child_write_visible((*b)->host()));
    }
    m_objects->remove_child("p");
    std::ifstream(path).seekg(4096).read(buf, 5);
    EXPECT_STREQ(buf, "guest");  // share=off writes stay private

    auto ro = make("memory-backend-file", "ro", {{"size", kMiB}, {"mem-path", path}, {"readonly", true}, {"prealloc", true}});
    ASSERT_TRUE(ro) << ro.error().msg;
    EXPECT_EQ(std::memcmp((*ro)->host() + 4096, "guest", 5), 0);
}

TEST_F(HostMemTest, FileBackendErrors) {
    std::string path = (m_dir / "ram").string();
    EXPECT_EQ(err("memory-backend-file", {{"size", kMiB}, {"mem-path", "/nonexistent/dir/x"}}),
              "can't open backing store /nonexistent/dir/x for guest RAM: No such file or directory");
    EXPECT_EQ(err("memory-backend-file", {{"size", kMiB}, {"mem-path", path}, {"align", 3 * kMiB}}),
              "alignment 0x300000 must be a power of two");
    EXPECT_EQ(entries(), 0u);  // the file made for the failed backend is gone again
    EXPECT_EQ(err("memory-backend-file", {{"size", kMiB}, {"mem-path", path}, {"align", 1000}}),
              "alignment 0x3e8 must be multiples of page size 0x1000");
    EXPECT_EQ(err("memory-backend-file", {{"size", kMiB}}), "mem-path property not set");
    ASSERT_TRUE(make("memory-backend-file", "f", {{"size", kMiB}, {"mem-path", path}}));
    m_objects->remove_child("f");
    EXPECT_EQ(err("memory-backend-file", {{"size", 2 * kMiB}, {"mem-path", path}, {"readonly", true}}),
              "backing store size 0x100000 does not match 'size' option 0x200000");
    EXPECT_EQ(err("memory-backend-file", {{"size", kMiB}, {"mem-path", "/proc/self/status"}}),
              "unable to map backing store for guest RAM: No such device");
    auto a = make("memory-backend-file", "a", {{"size", kMiB}, {"mem-path", m_dir.string()}, {"align", 4 * kMiB}});
    ASSERT_TRUE(a) << a.error().msg;
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*a)->host()) % (4 * kMiB), 0u);
}

} // namespace
} // namespace nemu::backends::test
