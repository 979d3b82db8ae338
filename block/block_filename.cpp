// QEMU 7.2 block.c bdrv_refresh_filename / append_strong_runtime_options and the QDict text
// form (qobject/qdict.c tdb_hash, QDICT_BUCKET_MAX 512; qobject/qjson.c to_json). Checked live
// against qemu-system-x86_64 7.2 (raw offset/size, qcow2 backing=null and other backing
// nodes, -drive snapshot=on overlays) in tests/qmp/test_block.py.
#include "block/block_filename.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

namespace nemu::block {

namespace {

constexpr unsigned kQdictBuckets = 512; // QDICT_BUCKET_MAX

// qdict.c tdb_hash (from Samba's tdb).
unsigned tdb_hash(const std::string& name) {
    uint32_t value = 0x238F13AFu * static_cast<uint32_t>(name.size());
    for (size_t i = 0; i < name.size(); ++i)
        value = value + (static_cast<uint32_t>(static_cast<unsigned char>(name[i])) << (i * 5 % 24));
    return 1103515243u * value + 12345u;
}

void append_value(std::string& out, const Json& v) {
    if (v.is_object()) {
        // Bucket order; within a bucket the last inserted comes first (QLIST_INSERT_HEAD).
        std::vector<std::pair<unsigned, size_t>> order;
        std::vector<const std::string*> keys;
        for (const auto& [k, _] : v.items()) {
            order.emplace_back(tdb_hash(k) % kQdictBuckets, keys.size());
            keys.push_back(&k);
        }
        std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
            return a.first != b.first ? a.first < b.first : a.second > b.second;
        });
        out += '{';
        bool first = true;
        for (const auto& [bucket, idx] : order) {
            if (!first) out += ", ";
            first = false;
            append_json_string_qmp(out, *keys[idx]);
            out += ": ";
            append_value(out, v.at(*keys[idx]));
        }
        out += '}';
    } else if (v.is_array()) {
        out += '[';
        for (size_t i = 0; i < v.size(); ++i) {
            if (i) out += ", ";
            append_value(out, v[i]);
        }
        out += ']';
    } else if (v.is_string()) {
        append_json_string_qmp(out, v.get<std::string>());
    } else if (v.is_boolean()) {
        out += v.get<bool>() ? "true" : "false";
    } else if (v.is_number_unsigned()) {
        out += fmt::format("{}", v.get<uint64_t>());
    } else if (v.is_number_integer()) {
        out += fmt::format("{}", v.get<int64_t>());
    } else if (v.is_number_float()) {
        out += fmt::format("{}", v.get<double>());
    } else {
        out += "null";
    }
}

bool needs_json(const BlockNode& node) {
    if (!node.strong_options().empty() || backing_overridden(node)) return true;
    return node.file_child() && needs_json(*node.file_child());
}

} // namespace

bool backing_overridden(const BlockNode& node) {
    if (!node.backing_explicit()) return false;
    // bs->auto_backing_file is the header's name as written: a relative header name given
    // an explicit backing node by absolute path counts as overridden (checked live).
    const std::string header = node.header_backing_name();
    if (const BlockNode* b = node.backing_child()) return header != node_filename(*b);
    return !header.empty();
}

Json full_open_options(const BlockNode& node) {
    Json j = Json::object();
    j["driver"] = std::string(node.driver());
    const Json strong = node.strong_options();
    if (!node.file_child()) {
        // A protocol node: its strong options where it has them (rbd's pool, image, ...),
        // else its file name (file and host_device).
        if (strong.empty()) j["filename"] = node.info().filename;
        for (const auto& [k, v] : strong.items()) j[k] = v;
        return j;
    }
    for (const auto& [k, v] : strong.items()) j[k] = v;
    j["file"] = full_open_options(*node.file_child());
    if (backing_overridden(node)) {
        if (const BlockNode* b = node.backing_child()) j["backing"] = full_open_options(*b);
        else j["backing"] = nullptr;
    }
    return j;
}

std::string node_filename(const BlockNode& node) {
    if (!needs_json(node)) return node.info().filename;
    return "json:" + qdict_json_text(full_open_options(node));
}

std::string qdict_json_text(const Json& value) {
    std::string out;
    append_value(out, value);
    return out;
}

} // namespace nemu::block
