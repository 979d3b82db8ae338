#pragma once
// Shared fixture for the backends tests: a type registry with the backend types under test,
// an "/objects"-like container holding what make() creates, and a private temporary
// directory. BackendFixture<Backend, register_types> serves every backend family;
// BackendTest is the memory backends' one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "backends/host_memory_backend.h"

namespace nemu::backends::test {

// Backend: what make() returns (the family's base class); RegisterTypes: registers the family.
template <class Backend, void (*RegisterTypes)(qom::TypeRegistry&)>
class BackendFixture : public ::testing::Test {
protected:
    void SetUp() override {
        qom::register_base_types(m_types);
        RegisterTypes(m_types);
        m_objects = std::move(*m_types.create("container"));
        std::string tmpl = (std::filesystem::temp_directory_path() / "nemu-backends-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        m_dir = tmpl;
    }
    void TearDown() override {
        m_objects.reset();
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }
    // Creates type with props (JSON values), names it id and completes it.
    Result<Backend*> make(const std::string& type, const std::string& id, const Json& props) {
        auto obj = TRY(m_types.create(type));
        for (const auto& [k, v] : props.items()) TRY(obj->set_property(k, v));
        qom::Object* added = TRY(m_objects->add_child(id, std::move(obj)));
        if (auto r = added->complete(); !r) {
            m_objects->remove_child(id);
            return make_error(std::move(r).error());
        }
        return static_cast<Backend*>(added);
    }
    // make()'s error message for type with props, or "(no error)" (the object is removed).
    std::string err(const std::string& type, const Json& props) {
        auto r = make(type, "m", props);
        if (!r) return r.error().msg;
        m_objects->remove_child("m");
        return "(no error)";
    }
    // How many files the temporary directory holds.
    size_t entries() const {
        return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(m_dir),
                                                 std::filesystem::directory_iterator()));
    }

    qom::TypeRegistry m_types;
    std::unique_ptr<qom::Object> m_objects;
    std::filesystem::path m_dir;
};

using BackendTest = BackendFixture<HostMemoryBackend, register_memory_backend_types>;

} // namespace nemu::backends::test
