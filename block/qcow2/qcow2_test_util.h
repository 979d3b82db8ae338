#pragma once
// Helpers for the qcow2 unit tests: temp dirs, running qemu-img/qemu-io, opening images with
// the fd test node and the qcow2 driver (backing files resolved relative to the overlay).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "block/qcow2/qcow2_format.h"
#include "block/testing/fd_node.h"

namespace nemu::block::qcow2::test {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/nemu-qcow2-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string operator/(const std::string& n) const { return path + "/" + n; }
};

// Runs a shell command; returns its exit status, with stdout+stderr in *out.
inline int sh(const std::string& cmd, std::string* out = nullptr) {
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return -1;
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) s.append(buf, n);
    const int st = ::pclose(p);
    if (out) *out = s;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::vector<uint8_t> slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}
inline void spit(const std::string& path, const std::vector<uint8_t>& d) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
}

inline Result<std::shared_ptr<BlockNode>> open_file(const std::string& path, bool ro) {
    int fd = ::open(path.c_str(), ro ? O_RDONLY : O_RDWR);
    if (fd < 0) return fail("Could not open '{}'", path);
    return std::shared_ptr<BlockNode>(std::make_shared<nemu::block::testing::FdNode>(UniqueFd(fd), ro));
}

// Opens an image (qcow2 by probe, otherwise the raw file itself) with its backing chain.
inline Result<std::shared_ptr<BlockNode>> open_image(const std::string& path, bool ro, int depth = 0) {
    if (depth > 16) return fail("backing chain too deep");
    auto file = TRY(open_file(path, ro));
    std::vector<uint8_t> head(std::min<uint64_t>(512, file->length()));
    iovec v{head.data(), head.size()};
    TRY(file->read(0, std::span<const iovec>(&v, 1)));
    if (qcow2_format().probe(head, path) == 0) return file;
    FormatOpenContext ctx;
    ctx.flags.read_only = ro;
    const std::string dir = std::filesystem::path(path).parent_path().string();
    ctx.open_backing = [dir, depth](const std::string& name, const std::string&) {
        const std::string p = name.starts_with("/") ? name : dir + "/" + name;
        return open_image(p, true, depth + 1);
    };
    return qcow2_format().open(file, ctx);
}

inline std::vector<uint8_t> read_all(BlockNode& n, uint64_t chunk = 3 * 65536 + 512) {
    std::vector<uint8_t> out(n.length());
    for (uint64_t off = 0; off < out.size(); off += chunk) {
        iovec v{out.data() + off, std::min<uint64_t>(chunk, out.size() - off)};
        auto r = n.read(off, std::span<const iovec>(&v, 1));
        EXPECT_TRUE(r) << (r ? "" : r.error().msg);
    }
    return out;
}

inline Result<> write_buf(BlockNode& n, uint64_t off, const std::vector<uint8_t>& d) {
    iovec v{const_cast<uint8_t*>(d.data()), d.size()};
    return n.write(off, std::span<const iovec>(&v, 1), false);
}

// `qemu-img check` passes with no errors and no leaks.
inline void expect_check_clean(const std::string& img) {
    std::string out;
    EXPECT_EQ(sh("qemu-img check -q " + img, &out), 0) << out;
    EXPECT_EQ(out, "") << out;
}

} // namespace nemu::block::qcow2::test
