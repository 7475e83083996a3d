#pragma once
// Reading typed values out of JSON objects with errors that name the key's full path
// ("eval.miou"), so a reader of a stored file can say which key of which file is wrong.
//
// Readers call key(j, "name", out) for each field; a nested from_json that itself uses key()
// reports its path below the parent's ("model" + "depth" → "model.depth").

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace cwd {

/// A key that is missing or cannot be read as the wanted type. `path` is dotted from the
/// outermost object read; `problem` is "is missing" or "has the wrong type (...)".
class JsonKeyError : public std::runtime_error {
 public:
  JsonKeyError(std::string path, std::string problem)
      : std::runtime_error("key '" + path + "' " + problem),
        path_(std::move(path)),
        problem_(std::move(problem)) {}
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

/// out = j[name] as T; throws JsonKeyError naming the key when it is missing or mistyped.
template <typename T>
void key(const nlohmann::json& j, const std::string& name, T& out) {
  const auto it = j.is_object() ? j.find(name) : j.end();
  if (it == j.end()) throw JsonKeyError(name, "is missing");
  try {
    it->get_to(out);
  } catch (const JsonKeyError& e) {
    throw JsonKeyError(name + "." + e.path(), e.problem());
  } catch (const std::exception& e) {
    throw JsonKeyError(name, std::string("has the wrong type or value (") + it->type_name() + ": " +
                                 e.what() + ")");
  }
}

/// Like key(), but a missing key (or null) leaves `fallback` in out.
template <typename T>
void key_or(const nlohmann::json& j, const std::string& name, T& out, const T& fallback) {
  const auto it = j.is_object() ? j.find(name) : j.end();
  if (it == j.end() || it->is_null()) {
    out = fallback;
    return;
  }
  key(j, name, out);
}

/// `parse(text)` for the value read from key `name`; a parser's error (a bad enum value, say)
/// becomes a JsonKeyError naming the key: "has a bad value (<parser's message>)".
template <typename Parse>
auto parsed_key(const std::string& name, Parse parse, const std::string& text) -> decltype(parse(text)) {
  try {
    return parse(text);
  } catch (const std::exception& e) {
    throw JsonKeyError(name, std::string("has a bad value (") + e.what() + ")");
  }
}

/// The value at j[name] itself (any type); throws JsonKeyError when missing.
inline const nlohmann::json& key_value(const nlohmann::json& j, const std::string& name) {
  const auto it = j.is_object() ? j.find(name) : j.end();
  if (it == j.end()) throw JsonKeyError(name, "is missing");
  return *it;
}

}  // namespace cwd
