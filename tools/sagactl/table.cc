#include "tools/sagactl/table.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace saga::sagactl {
namespace {

bool IsContinuationByte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

std::string Cell(std::string_view text) {
  return text.empty() ? "-" : OneLine(text);
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  if (cells.size() != headers_.size()) {
    std::fprintf(stderr,
                 "sagactl: internal error: row of %zu cells for %zu "
                 "columns\n",
                 cells.size(), headers_.size());
    std::abort();
  }
  for (std::string& cell : cells) cell = Cell(cell);
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t i = 0; i < headers_.size(); ++i) {
    widths[i] = DisplayWidth(headers_[i]);
  }
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  std::string out;
  auto append_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i + 1 < cells.size()) {
        line.append(widths[i] - DisplayWidth(cells[i]) + 2, ' ');
      }
    }
    // A trailing empty-looking column must not leave spaces behind.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  append_line(headers_);
  for (const auto& row : rows_) append_line(row);
  return out;
}

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (char c : text) {
    if (!IsContinuationByte(c)) ++width;
  }
  return width;
}

std::string Truncate(std::string_view text, size_t max_width) {
  if (max_width < 3) max_width = 3;
  if (DisplayWidth(text) <= max_width) return std::string(text);
  size_t keep = max_width - 3;
  size_t end = 0;
  size_t seen = 0;
  while (end < text.size()) {
    if (!IsContinuationByte(text[end])) {
      if (seen == keep) break;
      ++seen;
    }
    ++end;
  }
  return std::string(text.substr(0, end)) + "...";
}

std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  return out;
}

}  // namespace saga::sagactl
