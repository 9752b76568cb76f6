"""The sheet PDF's body lines: fixed character columns under the grid tile's rules."""

from commune_day.rendering import COLUMN_CHARS, _row, grid


def test_every_field_keeps_its_columns_width():
    line = _row(["7", "Nguyễn Thị Phương Thảo Hằng", "040175000137", "A-2021-00012 HN"])
    line += " " * (sum(COLUMN_CHARS) - len(line))
    edges = [sum(COLUMN_CHARS[:i]) for i in range(len(COLUMN_CHARS) + 1)]
    fields = [line[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    assert fields[0] == "  7 "  # right-aligned, a space before the rule
    assert fields[1] == " Nguyễn Thị Phương Th "  # cut to fit, a space either side
    assert fields[2] == " 040175000137 "


def test_amounts_are_right_aligned_and_never_cut():
    line = _row(["1", "", "", "", "999.999.999", "5.000.000", "", "70.000"])
    edges = [sum(COLUMN_CHARS[:i]) for i in range(len(COLUMN_CHARS) + 1)]
    assert line[edges[4] : edges[5]] == "999.999.999 "
    assert line[edges[5] : edges[6]] == "  5.000.000 "
    assert line.endswith("70.000")


def test_the_tile_is_as_wide_as_the_columns():
    tile = grid()
    assert tile["background"].startswith("data:image/svg+xml;base64,")
    assert tile["colgroup"].count("<col ") == len(COLUMN_CHARS)
    assert "," not in tile["width"] and "," not in tile["row"]
