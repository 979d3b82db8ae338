#pragma once
// One error type for everything that can fail across a module boundary, and the
// Result<T> that carries it. We use our own small expected-like type instead of
// std::expected because clang 14 (used for the libFuzzer builds) cannot compile
// libstdc++ 12's <expected>; the API mirrors std::expected so a later switch is mechanical.

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/core.h>

namespace nemu {

// QMP's error classes (QEMU qapi/error.json, ErrorClass). Spelled as on the wire.
enum class ErrorClass { GenericError, CommandNotFound, DeviceNotActive, DeviceNotFound, KVMMissingCap };

std::string_view error_class_name(ErrorClass cls);

struct Error {
    ErrorClass cls = ErrorClass::GenericError;
    std::string msg;
    int sys_errno = 0;
};

template <class E> class Unexpected {
public:
    explicit Unexpected(E e) : m_error(std::move(e)) {}
    E& error() & { return m_error; }
    E&& error() && { return std::move(m_error); }

private:
    E m_error;
};

template <class T = void, class E = Error> class [[nodiscard]] Expected {
public:
    Expected() requires std::is_default_constructible_v<T> : m_v(std::in_place_index<0>) {}
    template <class U = T>
        requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, Expected>) &&
                 (!std::is_same_v<std::remove_cvref_t<U>, Unexpected<E>>)
    Expected(U&& v) : m_v(std::in_place_index<0>, std::forward<U>(v)) {}
    template <class G> Expected(Unexpected<G> u) : m_v(std::in_place_index<1>, std::move(u).error()) {}

    bool has_value() const { return m_v.index() == 0; }
    explicit operator bool() const { return has_value(); }
    T& operator*() & { return std::get<0>(m_v); }
    const T& operator*() const& { return std::get<0>(m_v); }
    T&& operator*() && { return std::get<0>(std::move(m_v)); }
    T* operator->() { return &std::get<0>(m_v); }
    const T* operator->() const { return &std::get<0>(m_v); }
    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    template <class U> T value_or(U&& dflt) const& { return has_value() ? **this : T(std::forward<U>(dflt)); }
    E& error() & { return std::get<1>(m_v); }
    const E& error() const& { return std::get<1>(m_v); }
    E&& error() && { return std::get<1>(std::move(m_v)); }

private:
    std::variant<T, E> m_v;
};

template <class E> class [[nodiscard]] Expected<void, E> {
public:
    Expected() = default;
    template <class G> Expected(Unexpected<G> u) : m_error(std::move(u).error()), m_ok(false) {}
    bool has_value() const { return m_ok; }
    explicit operator bool() const { return m_ok; }
    void operator*() const {}
    void value() const {}
    E& error() & { return m_error; }
    const E& error() const& { return m_error; }
    E&& error() && { return std::move(m_error); }

private:
    E m_error{};
    bool m_ok = true;
};

template <class T = void> using Result = Expected<T, Error>;

inline Unexpected<Error> make_error(Error e) { return Unexpected<Error>(std::move(e)); }

// fail("Device '{}' not found", id) -> an Unexpected<Error> of class GenericError.
template <class... A> Unexpected<Error> fail(fmt::format_string<A...> f, A&&... a) {
    return make_error(Error{ErrorClass::GenericError, fmt::format(f, std::forward<A>(a)...), 0});
}
template <class... A> Unexpected<Error> fail(ErrorClass cls, fmt::format_string<A...> f, A&&... a) {
    return make_error(Error{cls, fmt::format(f, std::forward<A>(a)...), 0});
}
// An error from a failed syscall: "<what>: <strerror(err)>".
Unexpected<Error> fail_errno(std::string_view what, int err);

namespace detail {
template <class T, class E> T unwrap(Expected<T, E>&& r) { return std::move(r).value(); }
template <class E> void unwrap(Expected<void, E>&&) {}
} // namespace detail

} // namespace nemu

// TRY(expr): evaluate a Result; on error return it from the enclosing function, otherwise
// yield the value (a GNU statement expression, as SerenityOS's AK/Try.h).
#define TRY(expr)                                                                                  \
    ({                                                                                             \
        auto _nemu_try_r = (expr);                                                                 \
        if (!_nemu_try_r) return ::nemu::make_error(std::move(_nemu_try_r).error());               \
        ::nemu::detail::unwrap(std::move(_nemu_try_r));                                            \
    })
