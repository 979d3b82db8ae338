#pragma once
// Shared helpers of the VHD unit tests: a temporary directory, qemu-img/qemu-io runs (the
// oracle, Debian's QEMU 7.2), file bytes and nodes over files. Tests only.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "block/testing/fd_node.h"
#include "block/vhd/vhd_node.h"
#include "util/json.h"

namespace nemu::block::vhd::testutil {

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/nemu-vhd-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        m_path = p ? p : "";
    }
    ~TempDir() {
        std::error_code ec;
        if (!m_path.empty()) std::filesystem::remove_all(m_path, ec);
    }
    std::string file(const std::string& name) const { return m_path + "/" + name; }
    bool ok() const { return !m_path.empty(); }

private:
    std::string m_path;
};

// Runs a shell command; returns its exit status and (if out) its stdout+stderr.
inline int run(const std::string& cmd, std::string* out = nullptr) {
    std::string full = cmd + " 2>&1";
    FILE* f = ::popen(full.c_str(), "r");
    if (!f) return -1;
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    const int st = ::pclose(f);
    if (out) *out = text;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// qemu-img info --output=json's "virtual-size" (-1 on failure).
inline int64_t qemu_virtual_size(const std::string& path) {
    std::string out;
    if (run("qemu-img info -f vpc --output=json '" + path + "'", &out) != 0) return -1;
    auto j = parse_json(out);
    if (!j || !j->contains("virtual-size")) return -1;
    return (*j)["virtual-size"].get<int64_t>();
}

// The image's contents as qemu-img convert -O raw gives them (empty on failure).
inline std::vector<uint8_t> qemu_raw(const std::string& path, const std::string& scratch) {
    if (run("qemu-img convert -f vpc -O raw '" + path + "' '" + scratch + "'") != 0) return {};
    return read_file(scratch);
}

inline std::shared_ptr<testing::FdNode> open_file(const std::string& path, bool read_only) {
    const int fd = ::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return nullptr;
    return std::make_shared<testing::FdNode>(UniqueFd(fd), read_only);
}

inline Result<std::shared_ptr<VhdNode>> open_vhd(const std::string& path, bool read_only,
                                                 SizeCalc calc = SizeCalc::Auto) {
    auto file = open_file(path, read_only);
    if (!file) return fail("cannot open {}", path);
    return VhdNode::open(file, read_only, calc);
}

inline Result<> node_read(BlockNode& n, uint64_t off, std::vector<uint8_t>& buf) {
    iovec v{buf.data(), buf.size()};
    return n.read(off, std::span<const iovec>(&v, 1));
}

inline Result<> node_write(BlockNode& n, uint64_t off, const std::vector<uint8_t>& buf) {
    iovec v{const_cast<uint8_t*>(buf.data()), buf.size()};
    return n.write(off, std::span<const iovec>(&v, 1), false);
}

} // namespace nemu::block::vhd::testutil
