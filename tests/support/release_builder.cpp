#include "support/release_builder.h"

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "flotilla/common/process.h"

namespace flotilla::testing {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_counter{0};

void writeFile(const fs::path& path, const std::string& content, mode_t mode = 0644) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  REQUIRE(out.good());
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

void runTar(const std::vector<std::string>& argv) {
  common::ProcessSpec ps;
  ps.argv = argv;
  ps.env = common::baseEnvironment();
  ps.timeout = std::chrono::seconds(60);
  auto r = common::runProcess(ps);
  REQUIRE(r.ok());
  INFO("tar output: " << r->output);
  REQUIRE(r->success());
}

// sed replacement text for GNU tar's --transform, with ',' as the separator.
std::string sedEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '&' || c == ',') out += '\\';
    out += c;
  }
  return out;
}

template <typename Number>
std::string numberLine(Number value) {
  std::ostringstream out;
  out << value << "\n";
  return out.str();
}

// examples/service/bin/* with their modes, whatever the checkout's umask was.
void copyExampleService(const fs::path& bin) {
  const fs::path examples = fs::path(FLOTILLA_SOURCE_DIR) / "examples" / "service" / "bin";
  fs::create_directories(bin);
  for (const auto& entry : fs::directory_iterator(examples)) {
    REQUIRE(entry.is_regular_file());
    const fs::path to = bin / entry.path().filename();
    fs::copy_file(entry.path(), to, fs::copy_options::overwrite_existing);
    REQUIRE(::chmod(to.c_str(), 0755) == 0);
  }
}

}  // namespace

fs::path buildRelease(const fs::path& out_dir, const std::string& version, const ReleaseOptions& opts) {
  const int n = ++g_counter;
  const fs::path src = out_dir / ("src-" + version + "-" + std::to_string(n));
  fs::create_directories(src);
  if (opts.example_service)
    copyExampleService(src / "bin");
  else
    writeFile(src / "bin" / "restart",
              "#!/bin/sh\n"
              "echo \"$FLOTILLA_VERSION\" >> \"$FLOTILLA_RELEASE_DIR/../../restarted\"\n"
              "exit " +
                  std::to_string(opts.restart_exit) + "\n",
              0755);
  writeFile(src / "VERSION", version + "\n");
  if (opts.healthy) writeFile(src / "HEALTHY", "");
  if (opts.error_rate) writeFile(src / "ERROR_RATE", numberLine(*opts.error_rate));
  if (opts.latency_ms) writeFile(src / "LATENCY_MS", numberLine(*opts.latency_ms));
  if (opts.rps) writeFile(src / "RPS", numberLine(*opts.rps));
  for (const auto& [rel, content] : opts.extra_files) writeFile(src / rel, content);

  const fs::path tarball = out_dir / (version + "-" + std::to_string(n) + ".tar.gz");
  runTar({"/bin/tar", "-czf", tarball.string(), "-C", src.string(), "."});
  return tarball;
}

fs::path unpackRelease(const fs::path& tarball, const fs::path& dir) {
  fs::create_directories(dir);
  runTar({"/bin/tar", "-xzf", tarball.string(), "-C", dir.string()});
  return dir;
}

fs::path buildTarballWithEntry(const fs::path& out_dir, const std::string& entry_name, const std::string& content) {
  const int n = ++g_counter;
  const fs::path src = out_dir / ("raw-" + std::to_string(n));
  fs::create_directories(src);
  writeFile(src / "payload", content);
  const fs::path tarball = out_dir / ("raw-" + std::to_string(n) + ".tar.gz");
  // -P keeps a leading "../" or "/" that GNU tar would otherwise strip.
  runTar({"/bin/tar", "-P", "--transform", "s,^payload$," + sedEscape(entry_name) + ",", "-czf", tarball.string(), "-C",
          src.string(), "payload"});

  common::ProcessSpec list;
  list.argv = {"/bin/tar", "-tzf", tarball.string()};
  list.env = common::baseEnvironment();
  auto r = common::runProcess(list);
  REQUIRE(r.ok());
  REQUIRE(r->success());
  // Listing may also warn on stderr ("Removing leading `../'"); the name must be there verbatim.
  INFO("tar -t output: " << r->output);
  REQUIRE(
      (r->output.rfind(entry_name + "\n", 0) == 0 || r->output.find("\n" + entry_name + "\n") != std::string::npos));
  return tarball;
}

std::vector<std::string> readLines(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace flotilla::testing
