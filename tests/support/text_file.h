#pragma once
// Reading and editing the small text files integration tests deal with:
// configuration, key files, logs. Failures REQUIRE (Catch2), so a test that
// cannot set itself up stops there.

#include <filesystem>
#include <string>

namespace flotilla::testing {

// The whole file ("" when it cannot be read).
std::string readFile(const std::filesystem::path& path);

// `text` without trailing newlines, carriage returns and spaces.
std::string trimmed(std::string text);

// Replaces the first whole line of `file` that starts with `key = ` by `line`;
// REQUIREs that there is one.
void setTomlLine(const std::filesystem::path& file, const std::string& key, const std::string& line);

}  // namespace flotilla::testing
