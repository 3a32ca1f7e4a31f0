"""Every word a reader sees, in each language: one catalogue, chosen at render time only.

Renderers (terminal, Markdown, HTML, XLSX) take their words from here; the result model
holds ids and numbers. A key missing in a language falls back to English.
"""
from __future__ import annotations

import re
from typing import Any

# Status shown by shape as well as colour, for readers who cannot tell the colours apart.
ICONS = {"met": "✔", "pass": "✔", "near": "◐", "warn": "⚠", "missed": "✖", "fail": "✖",
         "n/a": "–", "tracked": "•"}

LABELS: dict[str, dict[str, str]] = {
    "en": {"rows_unit": "rows",
           "sheet_scorecard": "Scorecard",
           "overview": "Overview", "period": "period", "vs_benchmark": "vs benchmark",
           "met": "met", "near": "near", "missed": "missed", "n/a": "n/a", "pass": "pass", "warn": "warn",
           "fail": "fail", "high": "high", "medium": "medium", "low": "low", "action": "Action",
           "fix": "Improvement", "how": "How this was computed", "of": "of", "where": "where",
           "allocated_by": "allocated by", "derived": "derived from",
           "breakdowns": "Breakdowns", "by": "by", "group": "Group", "other_checks": "Other rules",
           "unreliable": "unreliable, requires", "writes_all": "writes every failing row",
           "previous": "Previous", "change": "Change", "ranking": "Ranking",
           "entity": "Entity", "rank": "Rank", "trend": "Trend", "since_last": "Since last run",
           "score": "Score", "grade": "Grade", "distribution": "Scores of every entity",
           "count": "Count", "shown": "the ranking below shows the top and bottom, %d of them", "kpis": "KPIs", "kpi": "KPI", "value": "Value",
           "target": "Target", "floor": "Floor", "benchmark": "Benchmark", "weight": "Share",
           "status": "Status", "category": "Category", "categories": "Categories",
           "checks": "Data quality", "check": "Rule", "rows": "Rows", "failed": "Failing",
           "pass_ratio": "Passing", "actions": "Recommendations", "priority": "Priority",
           "owner": "Owner", "gain": "Gain", "notes": "Notes", "strengths": "Strengths",
           "weaknesses": "Weaknesses", "sources": "Sources", "params": "Parameters",
           "formula": "Formula", "samples": "Failing rows (sample)", "source": "Source",
           "distinct_failed": "distinct failing keys", "key": "Key", "tracked": "tracked",
           "verdict": "Checks", "passed": "passed", "warned": "warned", "failed_n": "failed",
           "no_checks": "no data-quality rules",
           "failed_banner": "FAILED: a rule at level fail failed; the grade is withheld",
           "generated": "generated", "previous_period": "previous period", "rank_change": "rank change",
           "lower_better": "lower is better", "higher_better": "higher is better", "peers": "among peers",
           "id": "id", "rule": "Rule", "area": "Area", "severity": "Severity", "threshold": "Threshold",
           "change_pct": "Change %", "range": "Range", "entities_kpis": "Entities x KPIs",
           "limit": "{level} if {rule}", "sep": "; ", "any_row": "fail if any row fails",
           "rule_line": "{failed} of {rows} rows fail ({ratio} pass; {limits})",
           "note_na": "`{kpi}` is n/a ({reason}); its weight is shared by the other KPIs of `{category}`",
           "note_category": "category `{category}` has no scored KPI; its weight is shared by the others",
           "by_grade": "{n} entities by grade", "entity_actions": "Entity actions",
           "top_bottom": "the ranking shows the top and bottom {n}",
           "legend": "Reading the bars", "peer_range": "range of the peers (min – max)", "median": "median",
           "better_right": "further right is better", "scale": "scale", "print_rows": "{n} of {total} rows printed"},
    "zh": {"rows_unit": "行",
           "sheet_scorecard": "计分卡",
           "overview": "总览", "period": "期间", "vs_benchmark": "相对基准",
           "met": "达标", "near": "接近", "missed": "未达标", "n/a": "不适用", "pass": "通过", "warn": "警告",
           "fail": "不通过", "high": "高", "medium": "中", "low": "低", "action": "措施",
           "fix": "改进措施", "how": "计算说明", "of": "", "where": "条件",
           "allocated_by": "分摊依据", "derived": "派生自",
           "breakdowns": "分组统计", "by": "按", "group": "分组", "other_checks": "其他规则",
           "unreliable": "不可靠，依赖", "writes_all": "可导出全部不合格记录",
           "previous": "上期", "change": "变化", "ranking": "排名",
           "entity": "对象", "rank": "名次", "trend": "趋势", "since_last": "较上次运行",
           "score": "得分", "grade": "等级", "distribution": "全部对象得分分布",
           "count": "数量", "shown": "下方排名只列出最前与最后的 %d 个", "kpis": "指标", "kpi": "指标", "value": "实际值",
           "target": "目标", "floor": "底线", "benchmark": "基准", "weight": "占比",
           "status": "状态", "category": "类别", "categories": "类别得分",
           "checks": "数据质量", "check": "规则", "rows": "行数", "failed": "不合格",
           "pass_ratio": "合格率", "actions": "改进建议", "priority": "优先级",
           "owner": "负责方", "gain": "可提升", "notes": "说明", "strengths": "优势",
           "weaknesses": "劣势", "sources": "数据源", "params": "参数",
           "formula": "公式", "samples": "不合格记录（样例）", "source": "数据源",
           "distinct_failed": "个不同的不合格键值", "key": "键值", "tracked": "跟踪",
           "verdict": "数据检查", "passed": "通过", "warned": "警告", "failed_n": "未通过",
           "no_checks": "无数据质量规则",
           "failed_banner": "未通过：有阻断级数据规则未通过，等级评语不予显示",
           "generated": "生成于", "previous_period": "上期", "rank_change": "名次变化",
           "lower_better": "越低越好", "higher_better": "越高越好", "peers": "同组比较",
           "id": "编号", "rule": "规则", "area": "领域", "severity": "严重程度", "threshold": "阈值",
           "change_pct": "变化率", "range": "范围", "entities_kpis": "对象×指标",
           "limit": "{rule} 时{level}", "sep": "；", "any_row": "任一行不合格即不通过",
           "rule_line": "{rows} 行中 {failed} 行不合格（合格率 {ratio}；{limits}）",
           "note_na": "`{kpi}` 不适用（{reason}），其权重由 `{category}` 的其他指标分担",
           "note_category": "类别 `{category}` 没有可评分的指标，其权重由其他类别分担",
           "by_grade": "{n} 个对象按等级", "entity_actions": "对象改进建议",
           "top_bottom": "排名只列出最前与最后各 {n} 个",
           "legend": "图例", "peer_range": "同组范围（最低 – 最高）", "median": "中位数",
           "better_right": "越靠右越好", "scale": "刻度", "print_rows": "打印 {total} 行中的 {n} 行"},
}


def labels(lang: str) -> dict[str, Any]:
    return {**LABELS["en"], **LABELS.get(lang, {})}


# Why a KPI has no value or score, or an entity no rank: the engine says it in English (its
# columns hold one text for every language); a scorecard in another language says it with
# these, at the end of the run. Each pattern matches the whole reason; `{rest}` is a
# reason itself, said the same way.
REASONS: dict[str, list[tuple[str, str]]] = {
    "zh": [(r"division by zero: `(?P<x>.+)` is 0", "除数为零：`{x}` 为 0"),
           (r"`(?P<x>[^`]+)` is n/a: (?P<rest>.*)", "`{x}` 无数据：{rest}"),
           (r"measure `(?P<m>[^`]+)` is allocated by `(?P<a>[^`]+)`, which is 0 for every entity",
            "度量 `{m}` 按 `{a}` 分摊，而它对每个对象都为 0"),
           (r"measure `(?P<m>[^`]+)` has no value \(no rows, or only empty values\)", "度量 `{m}` 没有值（没有数据行，或值均为空）"),
           (r"the formula gives no finite number", "公式没有得出有限的数值"),
           (r"scored against the other entities: see each entity's scorecard", "与其他对象比较评分：见各对象的计分卡"),
           (r"no score: no KPI could be scored", "无得分：没有可评分的指标"),
           (r"scored on other weights than its peers \((?P<x>.*)\), so not ranked with them",
            "评分依据的权重与其他对象不同（{x}），因此不参与排名")],
}


def reason(text: str | None, lang: str) -> str | None:
    """``text``, a reason the engine gave in English, in ``lang``; unchanged when no
    pattern of that language matches it (a reason the catalogue does not know yet)."""
    if not text:
        return text
    for pattern, said in REASONS.get(lang, []):
        if found := re.fullmatch(pattern, text, re.S):
            parts = found.groupdict()
            if "rest" in parts:
                parts["rest"] = reason(parts["rest"], lang)
            return said.format(**parts)
    return text
