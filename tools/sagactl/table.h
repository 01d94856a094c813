// Plain-text tables with aligned columns, for people reading a terminal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace saga::sagactl {

// Collects rows and renders them with every column padded to its widest cell
// (measured in UTF-8 code points), two spaces between columns and no trailing
// spaces. Control characters in cells (newlines, tabs) become spaces so a
// cell never breaks a row. Empty cells render as "-".
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // REQUIRES: cells.size() == the number of headers (checked: aborts).
  void AddRow(std::vector<std::string> cells);

  bool empty() const { return rows_.empty(); }

  // The headers line, then one line per row, each ending in '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Number of UTF-8 code points in `text`.
size_t DisplayWidth(std::string_view text);

// `text` cut to at most `max_width` code points (at least 3), ending in
// "..." when cut.
std::string Truncate(std::string_view text, size_t max_width);

// `text` with every ASCII control character replaced by a space.
std::string OneLine(std::string_view text);

}  // namespace saga::sagactl
