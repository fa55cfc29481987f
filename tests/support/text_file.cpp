#include "support/text_file.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <sstream>

namespace flotilla::testing {

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.pop_back();
  return text;
}

void setTomlLine(const std::filesystem::path& file, const std::string& key, const std::string& line) {
  const std::string text = readFile(file);
  const std::regex re("(^|\n)" + key + " = [^\n]*");
  const std::string out = std::regex_replace(text, re, "$1" + line, std::regex_constants::format_first_only);
  INFO(file.string() << ": no line '" << key << " = ...'");
  REQUIRE(out != text);
  std::ofstream(file) << out;
}

}  // namespace flotilla::testing
