#include "flotilla/coordinator/judge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <utility>

namespace flotilla::coordinator {

namespace {

using Metric = protocol::AnalysisMetric;
using Direction = Metric::Direction;

// Above this many events the exact Poisson test sums too many binomial terms
// to be worth it; the normal approximation is exact enough there.
constexpr double kExactBinomialMax = 100000;
// Bisection steps of the pairwise-difference selection; it stops much sooner
// (when one distinct difference is left), this only bounds hostile input.
constexpr int kMaxSelectionSteps = 2000;

// One group after cleaning; counts only when every sample carries them.
struct Clean {
  std::vector<double> values, nums, dens;
  bool counts = false;
};

Clean dropNonFinite(const GroupSamples& g, bool rate) {
  Clean c;
  c.counts = rate && g.nums.size() == g.values.size() && g.dens.size() == g.values.size();
  for (std::size_t i = 0; i < g.values.size(); ++i) {
    if (!std::isfinite(g.values[i])) continue;
    if (c.counts && !(std::isfinite(g.nums[i]) && std::isfinite(g.dens[i]))) continue;
    c.values.push_back(g.values[i]);
    if (c.counts) {
      c.nums.push_back(g.nums[i]);
      c.dens.push_back(g.dens[i]);
    }
  }
  return c;
}

// Quantile of sorted data, linear interpolation between order statistics.
double quantileSorted(const std::vector<double>& s, double q) {
  if (s.empty()) return 0;
  double pos = q * static_cast<double>(s.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  std::size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (pos - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return quantileSorted(v, 0.5);
}

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

// Tukey's far fences on a group of at least 8 samples. A zero IQR leaves the
// group alone: the fences would collapse onto one value and every other value,
// however ordinary, would count as an outlier.
std::size_t removeOutliers(std::vector<double>& v) {
  if (v.size() < 8) return 0;
  std::vector<double> s = v;
  std::sort(s.begin(), s.end());
  double q1 = quantileSorted(s, 0.25), q3 = quantileSorted(s, 0.75), iqr = q3 - q1;
  if (!(iqr > 0)) return 0;
  double lo = q1 - 3 * iqr, hi = q3 + 3 * iqr;
  auto before = v.size();
  v.erase(std::remove_if(v.begin(), v.end(), [&](double x) { return x < lo || x > hi; }), v.end());
  return before - v.size();
}

double upperTail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }  // P(Z > z)

// z with P(Z > z) = tail, for tail in (0, 0.5]; bisection on erfc is plenty.
double upperQuantile(double tail) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 200; ++i) {
    double mid = (lo + hi) / 2;
    (upperTail(mid) > tail ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

// The p-value of the count tests, held to the same level as the two-sided
// rank test: the tail in the direction the metric cares about, doubled (so
// identical error ratios fail as rarely as identical latencies do: about
// (1 - confidence) / 2 per direction); for either, the smaller tail doubled.
double directedP(double p_greater, double p_less, Direction d) {
  switch (d) {
    case Direction::kIncrease:
      return std::min(1.0, 2 * p_greater);
    case Direction::kDecrease:
      return std::min(1.0, 2 * p_less);
    case Direction::kEither:
      break;
  }
  return std::min(1.0, 2 * std::min(p_greater, p_less));
}

// What a test found; levels are medians or pooled rates.
struct Comparison {
  double canary = 0, baseline = 0, shift = 0, ci_low = 0, ci_high = 0, p_value = 1;
  std::string counts;  // the summed counts for the sentence, count tests only
};

// The differences c[i] - b[j] of two sorted groups, ordered, without listing
// them: counting those at most v is a two-pointer walk, since a difference
// falls as j rises and grows as i rises (also in floating point).
class PairwiseDifferences {
 public:
  PairwiseDifferences(const std::vector<double>& c, const std::vector<double>& b) : c_(c), b_(b) {}

  std::size_t size() const { return c_.size() * b_.size(); }

  // The k-th smallest difference, k in [1, size()]: bisection on the value,
  // snapped to a real difference each step so it ends exactly.
  double kth(std::size_t k) const {
    double lo = c_.front() - b_.back(), hi = c_.back() - b_.front();
    if (countAtMost(lo, false) >= k) return lo;
    for (int step = 0; step < kMaxSelectionSteps; ++step) {
      hi = largestAtMost(hi);
      if (countAtMost(hi, true) < k) return hi;  // nothing below hi reaches rank k: hi is it
      double mid = lo + (hi - lo) / 2;
      if (!(mid > lo && mid < hi)) return hi;
      (countAtMost(mid, false) >= k ? hi : lo) = mid;
    }
    return largestAtMost(hi);
  }

 private:
  // Differences <= v (or < v when strict).
  std::size_t countAtMost(double v, bool strict) const {
    std::size_t n = 0, j = 0;
    for (double ci : c_) {
      while (j < b_.size() && !(strict ? ci - b_[j] < v : ci - b_[j] <= v)) ++j;
      n += b_.size() - j;
    }
    return n;
  }
  double largestAtMost(double v) const {
    double best = -INFINITY;
    std::size_t j = 0;
    for (double ci : c_) {
      while (j < b_.size() && !(ci - b_[j] <= v)) ++j;
      if (j < b_.size()) best = std::max(best, ci - b_[j]);
    }
    return best;
  }

  const std::vector<double>& c_;
  const std::vector<double>& b_;
};

// Mann-Whitney U, normal approximation with tie and continuity corrections,
// and the Hodges-Lehmann shift with its distribution-free interval.
Comparison mannWhitney(std::vector<double> c, std::vector<double> b, double confidence) {
  std::sort(c.begin(), c.end());
  std::sort(b.begin(), b.end());
  const double n1 = static_cast<double>(c.size()), n2 = static_cast<double>(b.size()), n = n1 + n2;
  std::vector<std::pair<double, bool>> all;  // value, from the canary
  all.reserve(c.size() + b.size());
  for (double x : c) all.emplace_back(x, true);
  for (double x : b) all.emplace_back(x, false);
  std::sort(all.begin(), all.end());
  double rank_sum = 0, ties = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    double t = static_cast<double>(j - i), rank = (static_cast<double>(i + j) + 1) / 2;
    for (std::size_t k = i; k < j; ++k)
      if (all[k].second) rank_sum += rank;
    ties += t * t * t - t;
    i = j;
  }
  const double u = rank_sum - n1 * (n1 + 1) / 2, mean = n1 * n2 / 2;
  const double sd = std::sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))));
  Comparison r;
  r.canary = quantileSorted(c, 0.5);
  r.baseline = quantileSorted(b, 0.5);
  if (sd > 0) r.p_value = std::min(1.0, 2 * upperTail(std::max(0.0, std::abs(u - mean) - 0.5) / sd));
  PairwiseDifferences d(c, b);
  const std::size_t m = d.size();
  r.shift = m % 2 ? d.kth(m / 2 + 1) : (d.kth(m / 2) + d.kth(m / 2 + 1)) / 2;
  // The shifts the test would accept: U(shift) within mean +- (z sd + 0.5).
  double z = upperQuantile((1 - confidence) / 2);
  double l = std::ceil(mean - z * sd - 0.5);
  auto low_rank = static_cast<std::size_t>(std::clamp(l, 1.0, static_cast<double>(m)));
  r.ci_low = d.kth(low_rank);
  r.ci_high = d.kth(m - low_rank + 1);
  return r;
}

// "canary 10 of 1000, baseline 0 of 1000" (ratios) or "... 12 in 300 s" (rates).
std::string countsText(double x1, double n1, double x0, double n0, const char* joint, const char* unit) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "canary %.6g%s%.6g%s, baseline %.6g%s%.6g%s", x1, joint, n1, unit, x0, joint, n0,
                unit);
  return buf;
}

// Error ratios near zero: pooled two-proportion z-test on the summed counts.
Comparison twoProportion(const Clean& c, const Clean& b, Direction dir, double confidence) {
  double x1 = sum(c.nums), n1 = sum(c.dens), x0 = sum(b.nums), n0 = sum(b.dens);
  double p1 = x1 / n1, p0 = x0 / n0, pooled = (x0 + x1) / (n0 + n1);
  Comparison r;
  r.canary = p1;
  r.baseline = p0;
  r.shift = p1 - p0;
  double se = std::sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1));
  if (se > 0) {
    double z = r.shift / se;
    r.p_value = directedP(upperTail(z), upperTail(-z), dir);
  }
  double wald = std::sqrt(std::max(0.0, p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0));
  double z = upperQuantile((1 - confidence) / 2);
  r.ci_low = r.shift - z * wald;
  r.ci_high = r.shift + z * wald;
  r.counts = countsText(x1, n1, x0, n0, " of ", "");
  return r;
}

// P(X >= k) and P(X <= k) for X ~ Binomial(n, q): exact sums of lgamma terms,
// or the normal approximation (continuity corrected) for large n.
std::pair<double, double> binomialTails(double k, double n, double q) {
  if (n > kExactBinomialMax) {
    double mu = n * q, sd = std::sqrt(n * q * (1 - q));
    if (!(sd > 0)) return {k <= mu ? 1.0 : 0.0, k >= mu ? 1.0 : 0.0};
    return {upperTail((k - 0.5 - mu) / sd), upperTail((mu - k - 0.5) / sd)};
  }
  double ge = 0, le = 0, lq = std::log(q), lr = std::log1p(-q), lgn = std::lgamma(n + 1);
  const auto events = static_cast<long>(n);
  for (long e = 0; e <= events; ++e) {
    const auto i = static_cast<double>(e);
    double t = std::exp(lgn - std::lgamma(i + 1) - std::lgamma(n - i + 1) + i * lq + (n - i) * lr);
    if (q == 0) t = i == 0 ? 1 : 0;
    if (q == 1) t = i == n ? 1 : 0;
    if (i >= k) ge += t;
    if (i <= k) le += t;
  }
  return {std::min(1.0, ge), std::min(1.0, le)};
}

// Event rates near zero: given all the events, the canary's share is
// binomial with the canary's share of the time under equal rates (exact).
// Counts are rounded to whole events.
Comparison poisson(const Clean& c, const Clean& b, Direction dir, double confidence) {
  double x1 = std::round(std::max(0.0, sum(c.nums))), t1 = sum(c.dens);
  double x0 = std::round(std::max(0.0, sum(b.nums))), t0 = sum(b.dens);
  Comparison r;
  r.canary = x1 / t1;
  r.baseline = x0 / t0;
  r.shift = r.canary - r.baseline;
  if (x0 + x1 > 0) {
    auto [ge, le] = binomialTails(x1, x0 + x1, t1 / (t0 + t1));
    r.p_value = directedP(ge, le, dir);
  }
  double z = upperQuantile((1 - confidence) / 2), wald = std::sqrt(x1 / (t1 * t1) + x0 / (t0 * t0));
  r.ci_low = r.shift - z * wald;
  r.ci_high = r.shift + z * wald;
  r.counts = countsText(x1, t1, x0, t0, " in ", " s");
  return r;
}

std::string num(double x) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4g", x);
  return buf;
}

std::string signedNum(double x) { return (x > 0 ? "+" : "") + num(x); }

std::string percent(double x) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%+.1f%%", x * 100);
  return buf;
}

std::string pText(double p) {
  if (p < 0.0001) return "p<0.0001";
  char buf[32];
  std::snprintf(buf, sizeof buf, "p=%.2g", p);
  return buf;
}

std::string confidenceText(double confidence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", confidence * 100);
  return buf;
}

// "canary 0.312 vs baseline 0.24 (+30.0%, 95% CI +26.1%..+33.8%, p=0.0001)".
std::string figures(const MetricResult& r, double confidence) {
  std::string s = "canary " + num(r.canary) + " vs baseline " + num(r.baseline) + " (";
  if (r.change) {
    double base = std::abs(r.baseline);
    s += percent(*r.change) + ", " + confidenceText(confidence) + " CI " + percent(r.ci_low / base) + ".." +
         percent(r.ci_high / base);
  } else {
    s += "shift " + signedNum(r.shift) + ", " + confidenceText(confidence) + " CI " + signedNum(r.ci_low) + ".." +
         signedNum(r.ci_high);
  }
  return s + ", " + (r.test == "mann-whitney" ? "" : r.test + " ") + pText(r.p_value) + ")";
}

bool exceedsTolerance(const Metric& spec, double shift, double baseline) {
  if (!spec.tolerance_relative) return std::abs(shift) > spec.tolerance;
  if (baseline == 0) return shift != 0;
  return std::abs(shift) > spec.tolerance * std::abs(baseline);
}

// The verdict of the comparison and the end of the sentence that explains it.
std::pair<MetricVerdict, std::string> compare(const Metric& spec, const MetricResult& r, double confidence) {
  const std::string tol = "tolerance " + r.tolerance;
  const bool up = r.shift > 0, exceeds = exceedsTolerance(spec, r.shift, r.baseline);
  // Said first: a one-sided count test finds a large change the metric ignores "not significant".
  if (exceeds && up && spec.direction == Direction::kDecrease)
    return {MetricVerdict::kPass, "higher, but only a decrease fails"};
  if (exceeds && !up && spec.direction == Direction::kIncrease)
    return {MetricVerdict::kPass, "lower, but only an increase fails"};
  if (!(r.p_value < 1 - confidence)) return {MetricVerdict::kPass, "not significant at " + confidenceText(confidence)};
  if (!exceeds) return {MetricVerdict::kPass, "within " + tol};
  return {up ? MetricVerdict::kHigh : MetricVerdict::kLow, (up ? "above " : "below by more than ") + tol};
}

// max / min on the canary's level: a failed bound decides the verdict.
std::string applyBounds(MetricResult& r) {
  if (r.max && r.canary > *r.max) {
    r.bound_failed = true;
    r.verdict = MetricVerdict::kHigh;
    return "above max " + num(*r.max);
  }
  if (r.min && r.canary < *r.min) {
    r.bound_failed = true;
    r.verdict = MetricVerdict::kLow;
    return "below min " + num(*r.min);
  }
  return "";
}

std::string boundsText(const MetricResult& r) {
  std::string s;
  if (r.max) s += "max " + num(*r.max);
  if (r.min) s += std::string(s.empty() ? "" : ", ") + "min " + num(*r.min);
  return s;
}

bool nearZero(const Clean& g) { return g.counts && !g.nums.empty() && median(g.nums) < kNearZeroCount; }

// The canary's level alone: pooled for counts near zero, else the median.
double level(const Clean& g) {
  double dens = g.counts ? sum(g.dens) : 0;
  return nearZero(g) && dens > 0 ? sum(g.nums) / dens : median(g.values);
}

// Too few baseline samples: only the absolute bounds can judge the canary.
void judgeBoundsOnly(MetricResult& r, Clean& c, std::size_t baseline_n, std::size_t min_samples) {
  std::string lack =
      "baseline has " + std::to_string(baseline_n) + " samples (min_samples " + std::to_string(min_samples) + ")";
  if (!r.max && !r.min) {
    r.why = lack + " and no max or min bounds the canary: no data";
    return;
  }
  if (!nearZero(c)) r.outliers = removeOutliers(c.values);
  r.test = "bound";
  r.canary_n = c.values.size();
  r.canary = level(c);
  r.verdict = MetricVerdict::kPass;
  std::string bound = applyBounds(r);
  r.why = "canary " + num(r.canary) + " (" + lack +
          ", judged on bounds alone): " + (bound.empty() ? "within " + boundsText(r) : bound);
}

double finite(double x) { return std::isfinite(x) ? x : 0; }

nlohmann::json jsonNum(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json jsonOpt(const std::optional<double>& x) { return x ? jsonNum(*x) : nlohmann::json(nullptr); }

}  // namespace

const char* toString(MetricVerdict v) {
  switch (v) {
    case MetricVerdict::kPass:
      return "pass";
    case MetricVerdict::kHigh:
      return "high";
    case MetricVerdict::kLow:
      return "low";
    case MetricVerdict::kNoData:
      break;
  }
  return "nodata";
}

const char* toString(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kMarginal:
      break;
  }
  return "marginal";
}

MetricResult judgeMetric(const protocol::AnalysisMetric& spec, const GroupSamples& canary, const GroupSamples& baseline,
                         std::size_t min_samples, double confidence) {
  MetricResult r;
  r.metric = spec.name;
  r.critical = spec.critical;
  r.weight = spec.weight;
  r.tolerance = protocol::toleranceText(spec);
  r.max = spec.max;
  r.min = spec.min;
  min_samples = std::max<std::size_t>(min_samples, 1);  // the tests need a sample in each group
  const bool rate = spec.kind == Metric::Kind::kRate;
  Clean c = dropNonFinite(canary, rate), b = dropNonFinite(baseline, rate);
  r.canary_n = c.values.size();
  r.baseline_n = b.values.size();
  if (c.values.size() < min_samples) {
    r.why = "canary has " + std::to_string(c.values.size()) + " samples, fewer than min_samples " +
            std::to_string(min_samples) + ": no data";
    return r;
  }
  if (b.values.size() < min_samples) {
    judgeBoundsOnly(r, c, b.values.size(), min_samples);
    return r;
  }
  Comparison cmp;
  const bool counts = c.counts && b.counts && (nearZero(c) || nearZero(b));
  if (counts && (!(sum(c.dens) > 0) || !(sum(b.dens) > 0))) {
    r.why = std::string("no ") + (spec.per.empty() ? "time" : "requests") + " behind the counts of a group: no data";
    return r;
  }
  if (counts) {
    r.test = spec.per.empty() ? "poisson" : "two-proportion";
    cmp =
        spec.per.empty() ? poisson(c, b, spec.direction, confidence) : twoProportion(c, b, spec.direction, confidence);
  } else {
    r.outliers = removeOutliers(c.values) + removeOutliers(b.values);
    r.canary_n = c.values.size();
    r.baseline_n = b.values.size();
    if (r.canary_n < min_samples || r.baseline_n < min_samples) {
      r.why = "fewer than min_samples " + std::to_string(min_samples) + " left after removing " +
              std::to_string(r.outliers) + " outliers: no data";
      return r;
    }
    r.test = "mann-whitney";
    cmp = mannWhitney(c.values, b.values, confidence);
  }
  r.canary = finite(cmp.canary);
  r.baseline = finite(cmp.baseline);
  r.shift = finite(cmp.shift);
  r.ci_low = finite(cmp.ci_low);
  r.ci_high = finite(cmp.ci_high);
  r.p_value = std::isfinite(cmp.p_value) ? cmp.p_value : 1;
  if (r.baseline != 0) r.change = r.shift / std::abs(r.baseline);
  auto [verdict, outcome] = compare(spec, r, confidence);
  r.verdict = verdict;
  std::string bound = applyBounds(r);
  if (!bound.empty()) outcome = bound + (verdict == MetricVerdict::kPass ? "" : "; also " + outcome);
  r.why = figures(r, confidence) + ": " + outcome;
  if (!cmp.counts.empty()) r.why += "; " + cmp.counts;
  return r;
}

namespace {

std::string listed(const std::vector<const MetricResult*>& rs, bool verdicts = true) {
  std::string s;
  for (const auto* r : rs)
    s += (s.empty() ? "" : ", ") + r->metric + (verdicts ? std::string(" ") + toString(r->verdict) : "");
  return s;
}

}  // namespace

Verdict judge(const protocol::AnalysisSpec& spec, const std::vector<std::pair<GroupSamples, GroupSamples>>& groups) {
  Verdict v;
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    static const GroupSamples kEmpty;
    const auto& canary = i < groups.size() ? groups[i].first : kEmpty;
    const auto& baseline = i < groups.size() ? groups[i].second : kEmpty;
    v.metrics.push_back(judgeMetric(spec.metrics[i], canary, baseline, spec.min_samples, spec.confidence));
  }
  double with_data = 0, passing = 0;
  std::vector<const MetricResult*> critical_failed, failed, critical_nodata, nodata;
  for (const auto& r : v.metrics) {
    bool fails = r.verdict == MetricVerdict::kHigh || r.verdict == MetricVerdict::kLow;
    if (r.verdict == MetricVerdict::kNoData) {
      (r.critical ? critical_nodata : nodata).push_back(&r);
      continue;
    }
    with_data += r.weight;
    if (!fails) passing += r.weight;
    if (fails) (r.critical ? critical_failed : failed).push_back(&r);
  }
  v.score = with_data > 0 ? 100 * passing / with_data : 0;
  char score[96];
  std::snprintf(score, sizeof score, "score %.4g", v.score);
  if (!critical_failed.empty()) {
    v.outcome = Outcome::kFail;
    v.reason = "critical metric failed: " + listed(critical_failed) + " (" + critical_failed.front()->why + ")";
  } else if (with_data <= 0) {
    v.outcome = Outcome::kMarginal;
    v.reason = "no metric has data";
  } else if (v.score < spec.marginal_score) {
    v.outcome = Outcome::kFail;
    v.reason = std::string(score) + " below marginal " + num(spec.marginal_score) + ": " + listed(failed);
  } else if (v.score < spec.pass_score) {
    v.outcome = Outcome::kMarginal;
    v.reason = std::string(score) + " below pass " + num(spec.pass_score) + ": " + listed(failed);
  } else if (!critical_nodata.empty()) {
    v.outcome = Outcome::kMarginal;
    v.reason = "no data for critical metric " + listed(critical_nodata, false);
  } else {
    v.outcome = Outcome::kPass;
    v.reason = std::string(score) + " >= pass " + num(spec.pass_score) +
               (failed.empty() ? "" : " despite " + listed(failed)) +
               (nodata.empty() ? "" : "; no data: " + listed(nodata, false));
  }
  return v;
}

nlohmann::json toJson(const MetricResult& r) {
  return nlohmann::json{{"metric", r.metric},
                        {"verdict", toString(r.verdict)},
                        {"critical", r.critical},
                        {"weight", jsonNum(r.weight)},
                        {"test", r.test},
                        {"canary_n", r.canary_n},
                        {"baseline_n", r.baseline_n},
                        {"outliers", r.outliers},
                        {"canary", jsonNum(r.canary)},
                        {"baseline", jsonNum(r.baseline)},
                        {"shift", jsonNum(r.shift)},
                        {"ci_low", jsonNum(r.ci_low)},
                        {"ci_high", jsonNum(r.ci_high)},
                        {"p_value", jsonNum(r.p_value)},
                        {"change", jsonOpt(r.change)},
                        {"tolerance", r.tolerance},
                        {"max", jsonOpt(r.max)},
                        {"min", jsonOpt(r.min)},
                        {"bound_failed", r.bound_failed},
                        {"why", r.why}};
}

nlohmann::json toJson(const Verdict& v) {
  auto metrics = nlohmann::json::array();
  for (const auto& m : v.metrics) metrics.push_back(toJson(m));
  return nlohmann::json{
      {"outcome", toString(v.outcome)}, {"score", jsonNum(v.score)}, {"reason", v.reason}, {"metrics", metrics}};
}

}  // namespace flotilla::coordinator
