#include "flotilla/agent/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace flotilla::agent {
namespace {

namespace fs = std::filesystem;

// Symlink hops allowed while resolving a target inside the tree (Linux uses 40).
constexpr int kMaxSymlinkHops = 40;
constexpr std::size_t kMaxShownName = 200;
constexpr std::size_t kReadBlock = 64 * 1024;

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ReadArchive = std::unique_ptr<archive, ReadDeleter>;
using WriteArchive = std::unique_ptr<archive, WriteDeleter>;

// What an earlier entry (or an implied parent directory) left at a path.
enum class Kind { kDir, kFile, kSymlink };

using Components = std::vector<std::string>;

// Entry names come from untrusted bytes: keep messages on one readable line.
std::string shown(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, kMaxShownName)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (name.size() > kMaxShownName) out += "...";
  return out;
}

Error refuse(std::string_view entry, const std::string& reason) {
  return Error(Errc::kPermission, "entry '" + shown(entry) + "': " + reason);
}

std::string archiveMessage(archive* a) {
  const char* msg = archive_error_string(a);
  return msg != nullptr ? msg : "unknown libarchive error";
}

// A write into the tree failed. libarchive says only "Write failed": a full
// file system is named as such, so that the deployer can say how full.
Error writeError(archive* out, const std::string& what, Errc otherwise = Errc::kIo) {
  const int err = archive_errno(out);
  if (err == ENOSPC || err == EDQUOT) return Error(Errc::kNoSpace, what + ": " + std::strerror(err));
  return Error(otherwise, what + ": " + archiveMessage(out));
}

// Splits a relative path on '/', dropping empty and '.' components. '..' is
// kept so that callers decide what it means.
Components split(std::string_view path) {
  Components out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view part = path.substr(pos, next - pos);
    if (!part.empty() && part != ".") out.emplace_back(part);
    pos = next + 1;
  }
  return out;
}

std::string join(const Components& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i != 0) out.push_back('/');
    out += parts[i];
  }
  return out;
}

std::string join(const Components& parts) { return join(parts, parts.size()); }

bool hasDotDot(const Components& parts) {
  for (const auto& p : parts)
    if (p == "..") return true;
  return false;
}

const char* typeName(mode_t type) {
  switch (type) {
    case AE_IFCHR:
      return "character device";
    case AE_IFBLK:
      return "block device";
    case AE_IFIFO:
      return "FIFO";
    case AE_IFSOCK:
      return "socket";
    default:
      return nullptr;
  }
}

std::string octal(unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", value);
  return buf;
}

// The tree extracted so far, as the archive described it. Used to resolve
// symlink targets the way the kernel would once extraction is done.
class Tree {
 public:
  // Where `target`, stored in a symlink inside directory `dir`, points.
  // Returns an empty string on success, else why it is refused.
  std::string checkSymlinkTarget(const Components& dir, std::string_view target) const {
    Components cur = dir;
    std::deque<std::string> todo;
    for (auto& part : splitKeepDots(target)) todo.push_back(std::move(part));
    int hops = 0;
    while (!todo.empty()) {
      std::string part = std::move(todo.front());
      todo.pop_front();
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (cur.empty()) return "leaves the release directory";
        cur.pop_back();
        continue;
      }
      cur.push_back(std::move(part));
      auto it = symlinks_.find(join(cur));
      if (it == symlinks_.end()) continue;
      if (++hops > kMaxSymlinkHops) return "has too many levels of symbolic links";
      cur.pop_back();
      if (!it->second.empty() && it->second.front() == '/') return "leaves the release directory";
      auto expanded = splitKeepDots(it->second);
      todo.insert(todo.begin(), expanded.begin(), expanded.end());
    }
    return {};
  }

  // Checks the parents of `parts` (not it): none may be a symlink or a file.
  // Records them as directories. Returns why it is refused, or "".
  std::string claimParents(const Components& parts) {
    for (std::size_t n = 1; n < parts.size(); ++n) {
      std::string key = join(parts, n);
      auto it = kinds_.find(key);
      if (it == kinds_.end()) {
        kinds_.emplace(std::move(key), Kind::kDir);
      } else if (it->second == Kind::kSymlink) {
        return "path passes through symlink '" + shown(key) + "'";
      } else if (it->second == Kind::kFile) {
        return "parent '" + shown(key) + "' is not a directory";
      }
    }
    return {};
  }

  // Records `key` as `kind`. A path may repeat only with the same kind: a
  // directory silently turning into a symlink is how tree escapes are built.
  std::string claim(const std::string& key, Kind kind) {
    auto [it, inserted] = kinds_.emplace(key, kind);
    if (!inserted && it->second != kind) return "replaces an earlier entry of another type";
    return {};
  }

  bool isFile(const std::string& key) const {
    auto it = kinds_.find(key);
    return it != kinds_.end() && it->second == Kind::kFile;
  }

  void addSymlink(const std::string& key, std::string target) { symlinks_[key] = std::move(target); }

  const std::map<std::string, std::string>& symlinks() const { return symlinks_; }

 private:
  static std::vector<std::string> splitKeepDots(std::string_view path) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= path.size()) {
      std::size_t next = path.find('/', pos);
      if (next == std::string_view::npos) next = path.size();
      out.emplace_back(path.substr(pos, next - pos));
      pos = next + 1;
    }
    return out;
  }

  std::map<std::string, Kind> kinds_;
  std::map<std::string, std::string> symlinks_;  // path -> raw target
};

struct Budget {
  const ExtractLimits& limits;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // content accepted so far, entries before the current one

  std::string bytesReason() const {
    return "archive content exceeds the limit of " + std::to_string(limits.max_bytes) + " bytes";
  }
};

class Extractor {
 public:
  Extractor(const fs::path& archive_path, const fs::path& dest, const ExtractLimits& limits)
      : archive_path_(archive_path), dest_(dest), budget_{limits} {}

  Status run(archive* in, archive* out) {
    archive_entry* entry = nullptr;
    for (;;) {
      int r = archive_read_next_header(in, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_RETRY) continue;
      if (r < ARCHIVE_WARN) {
        std::string where =
            last_entry_.empty() ? std::string("reading ") : "reading after entry '" + shown(last_entry_) + "' in ";
        return Error(Errc::kCorrupt, where + archive_path_.string() + ": " + archiveMessage(in));
      }
      FLOTILLA_TRY(extractEntry(in, out, entry));
    }
    // Later entries can change what an earlier symlink resolves to ('l -> d/..'
    // then 'd -> .'), so check every symlink against the final tree.
    for (const auto& [key, target] : tree_.symlinks()) {
      std::string why = tree_.checkSymlinkTarget(parentOf(split(key)), target);
      if (!why.empty()) return refuse(key, "symlink target '" + shown(target) + "' " + why);
    }
    if (archive_write_close(out) < ARCHIVE_WARN) return writeError(out, "finishing extraction into " + dest_.string());
    return okStatus();
  }

 private:
  static Components parentOf(Components parts) {
    if (!parts.empty()) parts.pop_back();
    return parts;
  }

  Status extractEntry(archive* in, archive* out, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) raw = archive_entry_pathname_utf8(entry);
    if (raw == nullptr || *raw == '\0') return refuse(raw == nullptr ? "?" : "", "missing or unreadable path name");
    const std::string name = raw;
    last_entry_ = name;

    if (++budget_.entries > budget_.limits.max_entries)
      return refuse(name, "archive has more than " + std::to_string(budget_.limits.max_entries) + " entries");

    if (name.front() == '/') return refuse(name, "absolute path");
    const Components parts = split(name);
    if (hasDotDot(parts)) return refuse(name, "path leaves the release directory ('..')");

    const mode_t mode = archive_entry_mode(entry);
    const mode_t type = archive_entry_filetype(entry);
    const char* hardlink = archive_entry_hardlink(entry);
    const char* symlink = archive_entry_symlink(entry);

    Result<Kind> kind_or = entryKind(name, type, hardlink);
    if (!kind_or) return kind_or.error();
    const Kind kind = *kind_or;
    if ((mode & (S_ISUID | S_ISGID | S_ISVTX)) != 0)
      return refuse(name, "setuid/setgid/sticky bit set (mode " + octal(mode & 07777) + ")");

    if (parts.empty()) {
      // "./" names the release directory itself; it keeps its own mode.
      if (kind != Kind::kDir) return refuse(name, "not a directory");
      return skipData(in, name);
    }

    const std::string key = join(parts);
    std::string why = tree_.claimParents(parts);
    if (!why.empty()) return refuse(name, why);

    if (kind == Kind::kSymlink) FLOTILLA_TRY(checkSymlink(name, parts, symlink));
    std::string link_key;
    if (hardlink != nullptr) {
      Result<std::string> target = hardlinkKey(name, key, hardlink);
      if (!target) return target.error();
      link_key = *target;
    }

    why = tree_.claim(key, kind);
    if (!why.empty()) return refuse(name, why);
    if (kind == Kind::kSymlink) tree_.addSymlink(key, symlink);

    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0) {
      auto declared = static_cast<std::uint64_t>(archive_entry_size(entry));
      if (declared > budget_.limits.max_bytes - std::min(budget_.bytes, budget_.limits.max_bytes))
        return refuse(name, budget_.bytesReason());
    }

    return writeEntry(in, out, entry, name, key, link_key);
  }

  // Writes a checked entry under dest_; `link_key` is its hardlink target's key
  // ("" when it is not a hardlink).
  Status writeEntry(archive* in, archive* out, archive_entry* entry, const std::string& name, const std::string& key,
                    const std::string& link_key) {
    const std::string full = (dest_ / key).string();
    archive_entry_copy_pathname(entry, full.c_str());
    if (!link_key.empty()) archive_entry_copy_hardlink(entry, (dest_ / link_key).c_str());

    int r = archive_write_header(out, entry);
    if (r < ARCHIVE_WARN) return writeError(out, "entry '" + shown(name) + "'");
    FLOTILLA_TRY(copyData(in, out, name));
    r = archive_write_finish_entry(out);
    if (r < ARCHIVE_WARN) return writeError(out, "entry '" + shown(name) + "'");
    return okStatus();
  }

  // What the entry is: a regular file (or a hardlink to one), a directory or a symlink.
  Result<Kind> entryKind(const std::string& name, mode_t type, const char* hardlink) const {
    if (hardlink != nullptr) {
      if (type != 0 && type != AE_IFREG) return refuse(name, "hardlink of an unsupported type");
      return Kind::kFile;
    }
    if (type == AE_IFREG) return Kind::kFile;
    if (type == AE_IFDIR) return Kind::kDir;
    if (type == AE_IFLNK) return Kind::kSymlink;
    const char* what = typeName(type);
    return refuse(name, what != nullptr ? std::string("unsupported file type (") + what + ")"
                                        : "unsupported file type (" + octal(type) + ")");
  }

  // A symlink must point somewhere inside the release, by a relative path.
  Status checkSymlink(const std::string& name, const Components& parts, const char* symlink) const {
    if (symlink == nullptr || *symlink == '\0') return refuse(name, "symlink without a target");
    if (symlink[0] == '/') return refuse(name, "symlink target '" + shown(symlink) + "' is absolute");
    std::string why = tree_.checkSymlinkTarget(parentOf(parts), symlink);
    if (!why.empty()) return refuse(name, "symlink target '" + shown(symlink) + "' " + why);
    return okStatus();
  }

  // The tree key of a hardlink's target, which must be a regular file extracted earlier.
  Result<std::string> hardlinkKey(const std::string& name, const std::string& key, const char* hardlink) const {
    if (hardlink[0] == '/') return refuse(name, "hardlink target '" + shown(hardlink) + "' is absolute");
    const Components target = split(hardlink);
    if (hasDotDot(target))
      return refuse(name, "hardlink target '" + shown(hardlink) + "' leaves the release directory");
    std::string link_key = join(target);
    if (link_key == key || !tree_.isFile(link_key))
      return refuse(name, "hardlink target '" + shown(hardlink) + "' is not a regular file extracted earlier");
    return link_key;
  }

  // Counts what the entry really carries: headers can understate sizes.
  Status copyData(archive* in, archive* out, const std::string& name) {
    std::uint64_t extent = 0;
    for (;;) {
      const void* buf = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK)
        return Error(Errc::kCorrupt,
                     "entry '" + shown(name) + "': reading " + archive_path_.string() + ": " + archiveMessage(in));
      if (offset < 0) return Error(Errc::kCorrupt, "entry '" + shown(name) + "': bad data offset");
      const std::uint64_t end = static_cast<std::uint64_t>(offset) + size;
      if (end > extent) extent = end;
      if (budget_.bytes > budget_.limits.max_bytes || extent > budget_.limits.max_bytes - budget_.bytes)
        return refuse(name, budget_.bytesReason());
      la_ssize_t w = archive_write_data_block(out, buf, size, offset);
      // A failed write(2) comes back as ARCHIVE_WARN.
      if (w < ARCHIVE_OK)
        return writeError(out, "entry '" + shown(name) + "'", w == ARCHIVE_WARN ? Errc::kCorrupt : Errc::kIo);
    }
    budget_.bytes += extent;
    return okStatus();
  }

  Status skipData(archive* in, const std::string& name) {
    int r = archive_read_data_skip(in);
    if (r < ARCHIVE_WARN)
      return Error(Errc::kCorrupt,
                   "entry '" + shown(name) + "': reading " + archive_path_.string() + ": " + archiveMessage(in));
    return okStatus();
  }

  const fs::path& archive_path_;
  const fs::path dest_;
  Budget budget_;
  Tree tree_;
  std::string last_entry_;
};

// dest_dir with its parent resolved, so the paths handed to libarchive hold no
// symlink or '..' of their own (SECURE_SYMLINKS and NODOTDOT stay meaningful).
Result<fs::path> resolveDest(const fs::path& dest_dir) {
  std::error_code ec;
  fs::path abs = fs::absolute(dest_dir, ec);
  if (ec) return Error(Errc::kIo, dest_dir.string() + ": " + ec.message());
  abs = abs.lexically_normal();
  if (!abs.has_filename()) abs = abs.parent_path();
  if (!abs.has_filename() || abs == abs.root_path())
    return Error(Errc::kInvalidArgument, dest_dir.string() + ": not a usable release directory");
  fs::path parent = abs.parent_path();
  fs::create_directories(parent, ec);
  if (ec) return Error(Errc::kIo, "creating " + parent.string() + ": " + ec.message());
  fs::path real_parent = fs::canonical(parent, ec);
  if (ec) return Error(Errc::kIo, parent.string() + ": " + ec.message());
  return real_parent / abs.filename();
}

// The archive opened for reading in the formats an artifact may use.
Result<ReadArchive> openArchive(const fs::path& archive_path) {
  ReadArchive in(archive_read_new());
  if (!in) return Error(Errc::kInternal, "archive_read_new failed");
  archive_read_support_filter_all(in.get());
  // Deliberately not format_all: the mtree reader copies files named in the
  // archive from the local disk, which would let an artifact read the host.
  archive_read_support_format_tar(in.get());
  archive_read_support_format_zip(in.get());
  archive_read_support_format_7zip(in.get());
  archive_read_support_format_cpio(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), kReadBlock) != ARCHIVE_OK) {
    int err = archive_errno(in.get());
    Errc code = err == ENOENT ? Errc::kNotFound : (err == EACCES ? Errc::kPermission : Errc::kCorrupt);
    return Error(code, archive_path.string() + ": not a readable archive: " + archiveMessage(in.get()));
  }
  return in;
}

Status extractImpl(const fs::path& archive_path, const fs::path& dest_dir, const ExtractLimits& limits) {
  auto dest = resolveDest(dest_dir);
  if (!dest.ok()) return dest.error();

  std::error_code ec;
  if (fs::symlink_status(*dest, ec).type() != fs::file_type::not_found)
    return Error(Errc::kAlreadyExists, dest_dir.string() + ": already exists");

  auto in = openArchive(archive_path);
  if (!in) return in.error();

  if (::mkdir(dest->c_str(), 0755) != 0) {
    int err = errno;
    if (err == EEXIST) return Error(Errc::kAlreadyExists, dest_dir.string() + ": already exists");
    return Error(err == ENOSPC || err == EDQUOT ? Errc::kNoSpace : Errc::kIo,
                 "creating " + dest_dir.string() + ": " + std::strerror(err));
  }
  if (::chmod(dest->c_str(), 0755) != 0)
    return Error(Errc::kIo, "chmod " + dest_dir.string() + ": " + std::strerror(errno));

  WriteArchive out(archive_write_disk_new());
  if (!out) return Error(Errc::kInternal, "archive_write_disk_new failed");
  // No NOABSOLUTEPATHS: every path handed over is dest/<validated entry>,
  // absolute by construction; entries themselves are checked above.
  const int flags =
      ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM;
  if (archive_write_disk_set_options(out.get(), flags) != ARCHIVE_OK)
    return Error(Errc::kInternal, "archive_write_disk_set_options: " + archiveMessage(out.get()));

  Extractor extractor(archive_path, *dest, limits);
  return extractor.run(in->get(), out.get());
}

std::uint64_t roundUp(std::uint64_t bytes, std::uint64_t block) {
  if (block == 0) return bytes;
  return (bytes / block + (bytes % block != 0 ? 1 : 0)) * block;
}

Result<UnpackedSize> unpackedSizeImpl(const fs::path& archive_path, std::uint64_t block_size,
                                      const ExtractLimits& limits) {
  auto in = openArchive(archive_path);
  if (!in) return in.error();
  UnpackedSize out;
  std::uint64_t content = 0;
  archive_entry* entry = nullptr;
  for (;;) {
    int r = archive_read_next_header(in->get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_RETRY) continue;
    if (r < ARCHIVE_WARN)
      return Error(Errc::kCorrupt, "reading " + archive_path.string() + ": " + archiveMessage(in->get()));
    if (++out.entries > limits.max_entries) {
      out.within_limits = false;
      break;
    }
    const mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      out.bytes += block_size;
    } else if (type == AE_IFREG && archive_entry_hardlink(entry) == nullptr && archive_entry_size_is_set(entry) &&
               archive_entry_size(entry) > 0) {
      const auto size = static_cast<std::uint64_t>(archive_entry_size(entry));
      content += size;
      if (content > limits.max_bytes) {
        out.within_limits = false;
        break;
      }
      out.bytes += roundUp(size, block_size);
    }
    if (archive_read_data_skip(in->get()) < ARCHIVE_WARN)
      return Error(Errc::kCorrupt, "reading " + archive_path.string() + ": " + archiveMessage(in->get()));
  }
  return out;
}

}  // namespace

Status extractArchive(const std::filesystem::path& archive, const std::filesystem::path& dest_dir,
                      const ExtractLimits& limits) {
  try {
    return extractImpl(archive, dest_dir, limits);
  } catch (const std::exception& e) {
    return Error(Errc::kInternal, "extracting " + archive.string() + ": " + e.what());
  }
}

Result<UnpackedSize> unpackedSize(const std::filesystem::path& archive, std::uint64_t block_size,
                                  const ExtractLimits& limits) {
  try {
    return unpackedSizeImpl(archive, block_size, limits);
  } catch (const std::exception& e) {
    return Error(Errc::kInternal, "measuring " + archive.string() + ": " + e.what());
  }
}

}  // namespace flotilla::agent
