namespace Hbone.Cli.Commands.Ztunnel;

/// <summary>Plain-text tables like <c>istioctl ztunnel-config</c>: each column as wide as its widest cell plus one space, no trailing spaces.</summary>
internal static class TableWriter
{
    public static void Write(TextWriter output, IReadOnlyList<string> headers, IReadOnlyList<string[]> rows)
    {
        var widths = new int[headers.Count];
        for (var c = 0; c < headers.Count; c++)
        {
            widths[c] = headers[c].Length;
            foreach (var row in rows)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        WriteRow(output, headers, widths);
        foreach (var row in rows)
        {
            WriteRow(output, row, widths);
        }
    }

    private static void WriteRow(TextWriter output, IReadOnlyList<string> cells, int[] widths)
    {
        var line = new System.Text.StringBuilder();
        for (var c = 0; c < cells.Count; c++)
        {
            line.Append(c == cells.Count - 1 ? cells[c] : cells[c].PadRight(widths[c] + 1));
        }

        output.WriteLine(line.ToString());
    }
}
