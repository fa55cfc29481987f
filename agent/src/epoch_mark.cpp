#include "flotilla/agent/epoch_mark.h"

#include <charconv>

#include "flotilla/common/fs.h"

namespace flotilla::agent {

Result<EpochMark> EpochMark::open(const std::filesystem::path& state_dir) {
  auto file = state_dir / "epoch";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return EpochMark(file, 0);
  auto text = common::readFile(file, 64);
  if (!text) return text.error();
  std::string_view s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  std::uint64_t value = 0;
  auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || err != std::errc() || end != s.data() + s.size())
    return Error(Errc::kCorrupt, file.string() + ": expected the highest leadership epoch seen (a number), found '" +
                                     std::string(s.substr(0, 32)) + "'");
  return EpochMark(file, value);
}

Status EpochMark::observe(std::uint64_t epoch) {
  if (epoch <= highest_) return {};
  highest_ = epoch;
  if (auto st = common::atomicWriteFile(file_, std::to_string(epoch) + "\n", 0600); !st.ok())
    return st.error().context("recording leadership epoch " + std::to_string(epoch));
  return {};
}

}  // namespace flotilla::agent
