// The plan's [analysis] table and its [[analysis.metric]] entries
// (docs/analysis.md). Every error names the file, line, key and what is wrong.

#include <toml++/toml.h>

#include <cmath>
#include <set>
#include <string>

#include "flotilla/common/duration.h"
#include "flotilla/common/prom_text.h"
#include "toml_value_reader.h"

namespace flotilla::protocol {
namespace {

using Metric = AnalysisMetric;

Status readNumber(const TomlValueReader& r, const toml::node& node, std::string_view key, double& out) {
  if (const auto* i = node.as_integer()) {
    out = static_cast<double>(i->get());
  } else if (const auto* f = node.as_floating_point()) {
    out = f->get();
  } else {
    return r.wrongType(node, key, "a number");
  }
  if (!std::isfinite(out)) return r.errorAt(node, key, "must be a finite number");
  return okStatus();
}

Status readScore(const TomlValueReader& r, const toml::node& node, std::string_view key, double& out) {
  FLOTILLA_TRY(readNumber(r, node, key, out));
  if (out < 0 || out > 100) return r.errorAt(node, key, "must be a score from 0 to 100, got " + std::to_string(out));
  return okStatus();
}

bool validMetricName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// The agent reads its own host only: http://127.x.x.x, localhost or [::1].
bool loopbackUrl(std::string_view url) {
  if (!url.starts_with("http://")) return false;
  std::string_view rest = url.substr(7);
  for (std::string_view host : {"127.", "localhost:", "localhost/", "[::1]"}) {
    if (rest.starts_with(host)) return true;
  }
  return rest == "localhost";
}

Status readSelector(const TomlValueReader& r, const toml::node& node, const std::string& key, std::string& out) {
  FLOTILLA_TRY(r.readNonEmptyString(node, key, out));
  auto parsed = common::parseSelector(out);
  if (!parsed) return r.errorAt(node, key, parsed.error().message);
  return okStatus();
}

Status readTolerance(const TomlValueReader& r, const toml::node& node, const std::string& key, Metric& m) {
  if (const auto* text = node.as_string()) {
    std::string_view s = text->get();
    if (!s.ends_with('%'))
      return r.errorAt(node, key, "expected a percentage like \"25%\" or an absolute number, got " + r.quote(s));
    std::string digits(s.substr(0, s.size() - 1));
    char* end = nullptr;
    double pct = std::strtod(digits.c_str(), &end);
    if (digits.empty() || end != digits.c_str() + digits.size() || !std::isfinite(pct) || pct < 0)
      return r.errorAt(node, key, "expected a percentage like \"25%\", got " + r.quote(s));
    m.tolerance_relative = true;
    m.tolerance = pct / 100.0;
    return okStatus();
  }
  double v = 0;
  FLOTILLA_TRY(readNumber(r, node, key, v));
  if (v < 0) return r.errorAt(node, key, "must not be negative");
  m.tolerance_relative = false;
  m.tolerance = v;
  return okStatus();
}

Status readMetric(const TomlValueReader& r, const toml::node& node, const std::string& path, Metric& m) {
  const toml::table* t = node.as_table();
  if (t == nullptr) return r.wrongType(node, path, "a table ([[analysis.metric]])");
  FLOTILLA_TRY(r.checkKeys(*t, path,
                           {"name", "scrape", "prometheus", "query", "rate", "per", "gauge", "histogram", "quantile",
                            "direction", "tolerance", "max", "min", "critical", "weight"}));
  const toml::node* name = t->get("name");
  if (name == nullptr) return r.missing(*t, TomlValueReader::join(path, "name"));
  FLOTILLA_TRY(r.readString(*name, TomlValueReader::join(path, "name"), m.name));
  if (!validMetricName(m.name))
    return r.errorAt(*name, TomlValueReader::join(path, "name"),
                     "invalid metric name " + r.quote(m.name) + " (1-64 of a-z 0-9 _)");

  const toml::node* scrape = t->get("scrape");
  const toml::node* prometheus = t->get("prometheus");
  if ((scrape == nullptr) == (prometheus == nullptr))
    return r.errorAt(
        *t, path,
        "needs exactly one source: scrape = \"http://127.0.0.1:${PORT}/metrics\" or prometheus = \"http://HOST:9090\"");

  if (prometheus != nullptr) {
    std::string key = TomlValueReader::join(path, "prometheus");
    m.source = Metric::Source::kPrometheus;
    FLOTILLA_TRY(r.readNonEmptyString(*prometheus, key, m.prometheus));
    if (!m.prometheus.starts_with("http://") && !m.prometheus.starts_with("https://"))
      return r.errorAt(*prometheus, key,
                       "expected a URL starting with http:// or https://, got " + r.quote(m.prometheus));
    for (const char* k : {"rate", "per", "gauge", "histogram", "quantile"})
      if (t->get(k) != nullptr)
        return r.errorAt(*t->get(k), TomlValueReader::join(path, k),
                         "a prometheus metric takes a query; rate, per, gauge and histogram are for scrape");
    const toml::node* query = t->get("query");
    if (query == nullptr) return r.missing(*t, TomlValueReader::join(path, "query"));
    m.kind = Metric::Kind::kQuery;
    FLOTILLA_TRY(r.readNonEmptyString(*query, TomlValueReader::join(path, "query"), m.series));
  } else {
    std::string key = TomlValueReader::join(path, "scrape");
    m.source = Metric::Source::kScrape;
    FLOTILLA_TRY(r.readNonEmptyString(*scrape, key, m.scrape));
    if (!loopbackUrl(m.scrape))
      return r.errorAt(*scrape, key,
                       "the agent reads its own host only: expected http://127.0.0.1:PORT/..., http://localhost... "
                       "or http://[::1]..., got " +
                           r.quote(m.scrape));
    if (t->get("query") != nullptr)
      return r.errorAt(*t->get("query"), TomlValueReader::join(path, "query"),
                       "query is for a prometheus source; a scrape metric takes rate, gauge or histogram");
    const toml::node* rate = t->get("rate");
    const toml::node* gauge = t->get("gauge");
    const toml::node* histogram = t->get("histogram");
    int kinds = (rate != nullptr) + (gauge != nullptr) + (histogram != nullptr);
    if (kinds != 1) return r.errorAt(*t, path, "needs exactly one of rate, gauge or histogram");
    if (rate != nullptr) {
      m.kind = Metric::Kind::kRate;
      FLOTILLA_TRY(readSelector(r, *rate, TomlValueReader::join(path, "rate"), m.series));
    } else if (gauge != nullptr) {
      m.kind = Metric::Kind::kGauge;
      FLOTILLA_TRY(readSelector(r, *gauge, TomlValueReader::join(path, "gauge"), m.series));
    } else {
      m.kind = Metric::Kind::kHistogram;
      FLOTILLA_TRY(readSelector(r, *histogram, TomlValueReader::join(path, "histogram"), m.series));
    }
    if (const toml::node* per = t->get("per")) {
      if (m.kind != Metric::Kind::kRate)
        return r.errorAt(*per, TomlValueReader::join(path, "per"), "per divides a rate; this metric is not a rate");
      FLOTILLA_TRY(readSelector(r, *per, TomlValueReader::join(path, "per"), m.per));
    }
    if (const toml::node* q = t->get("quantile")) {
      std::string qkey = TomlValueReader::join(path, "quantile");
      if (m.kind != Metric::Kind::kHistogram) return r.errorAt(*q, qkey, "quantile applies to a histogram");
      FLOTILLA_TRY(readNumber(r, *q, qkey, m.quantile));
      if (!(m.quantile > 0 && m.quantile < 1)) return r.errorAt(*q, qkey, "must be between 0 and 1, like 0.99");
    }
  }

  if (const toml::node* d = t->get("direction")) {
    std::string key = TomlValueReader::join(path, "direction");
    std::string v;
    FLOTILLA_TRY(r.readString(*d, key, v));
    if (v == "increase") {
      m.direction = Metric::Direction::kIncrease;
    } else if (v == "decrease") {
      m.direction = Metric::Direction::kDecrease;
    } else if (v == "either") {
      m.direction = Metric::Direction::kEither;
    } else {
      return r.errorAt(*d, key, "expected \"increase\", \"decrease\" or \"either\", got " + r.quote(v));
    }
  }
  if (const toml::node* tol = t->get("tolerance"))
    FLOTILLA_TRY(readTolerance(r, *tol, TomlValueReader::join(path, "tolerance"), m));
  for (const char* bound : {"max", "min"}) {
    const toml::node* b = t->get(bound);
    if (b == nullptr) continue;
    double v = 0;
    FLOTILLA_TRY(readNumber(r, *b, TomlValueReader::join(path, bound), v));
    (std::string_view(bound) == "max" ? m.max : m.min) = v;
  }
  if (m.max && m.min && *m.min > *m.max)
    return r.errorAt(*t->get("min"), TomlValueReader::join(path, "min"), "is above max");
  if (const toml::node* c = t->get("critical")) {
    const auto* b = c->as_boolean();
    if (b == nullptr) return r.wrongType(*c, TomlValueReader::join(path, "critical"), "true or false");
    m.critical = b->get();
  }
  if (const toml::node* w = t->get("weight")) {
    std::string key = TomlValueReader::join(path, "weight");
    FLOTILLA_TRY(readNumber(r, *w, key, m.weight));
    if (m.weight <= 0) return r.errorAt(*w, key, "must be greater than 0");
  }
  return okStatus();
}

}  // namespace

Status readAnalysis(const TomlValueReader& r, const toml::table& table, AnalysisSpec& out) {
  FLOTILLA_TRY(r.checkKeys(table, "analysis",
                           {"interval", "min_samples", "pass_score", "marginal_score", "confidence", "metric"}));
  if (const toml::node* n = table.get("interval")) {
    FLOTILLA_TRY(r.readPositiveDuration(*n, "analysis.interval", out.interval));
    if (out.interval < common::Millis(100) || out.interval > std::chrono::hours(1))
      return r.errorAt(*n, "analysis.interval",
                       "must be from 100ms to 1h, got " + common::formatDuration(out.interval));
  }
  if (const toml::node* n = table.get("min_samples")) {
    const auto* v = n->as_integer();
    if (v == nullptr) return r.wrongType(*n, "analysis.min_samples", "an integer");
    if (v->get() < 3 || v->get() > 10000)
      return r.errorAt(
          *n, "analysis.min_samples",
          "must be from 3 to 10000 (fewer than 3 samples cannot show a difference), got " + std::to_string(v->get()));
    out.min_samples = static_cast<std::size_t>(v->get());
  }
  const toml::node* pass = table.get("pass_score");
  const toml::node* marginal = table.get("marginal_score");
  if (pass != nullptr) FLOTILLA_TRY(readScore(r, *pass, "analysis.pass_score", out.pass_score));
  if (marginal != nullptr) FLOTILLA_TRY(readScore(r, *marginal, "analysis.marginal_score", out.marginal_score));
  if (out.marginal_score > out.pass_score) {
    const toml::node& where = marginal != nullptr ? *marginal : (pass != nullptr ? *pass : table);
    return r.errorAt(where, "analysis.marginal_score",
                     "must not be above pass_score (" + std::to_string(out.pass_score) + ")");
  }
  if (const toml::node* n = table.get("confidence")) {
    FLOTILLA_TRY(readNumber(r, *n, "analysis.confidence", out.confidence));
    if (!(out.confidence > 0.5 && out.confidence < 1))
      return r.errorAt(*n, "analysis.confidence", "must be between 0.5 and 1, like 0.95");
  }
  const toml::node* metrics = table.get("metric");
  if (metrics == nullptr) return r.missing(table, "analysis.metric");
  const toml::array* array = metrics->as_array();
  if (array == nullptr) return r.wrongType(*metrics, "analysis.metric", "an array of tables ([[analysis.metric]])");
  if (array->empty()) return r.errorAt(*metrics, "analysis.metric", "needs at least one metric");
  if (array->size() > 64) return r.errorAt(*metrics, "analysis.metric", "at most 64 metrics");
  std::set<std::string> names;
  for (std::size_t i = 0; i < array->size(); ++i) {
    std::string path = TomlValueReader::indexed("analysis.metric", i);
    AnalysisMetric m;
    FLOTILLA_TRY(readMetric(r, (*array)[i], path, m));
    if (!names.insert(m.name).second)
      return r.errorAt((*array)[i], TomlValueReader::join(path, "name"),
                       "metric " + r.quote(m.name) + " appears twice");
    out.metrics.push_back(std::move(m));
  }
  return okStatus();
}

}  // namespace flotilla::protocol
