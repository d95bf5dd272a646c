using System.Text.RegularExpressions;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// A position in a process's output: waits and counts only look at lines printed after it (lines are told apart by
/// reference, so repeated identical lines still count as new).
/// </summary>
internal sealed partial class TrafficLog
{
    private readonly HashSet<string> _before;

    private TrafficLog(NodeProcess process)
    {
        Process = process;
        _before = new HashSet<string>(process.Lines, ReferenceEqualityComparer.Instance);
    }

    /// <summary>The process whose output this marks.</summary>
    public NodeProcess Process { get; }

    /// <summary>The lines printed after the mark, so far.</summary>
    public IReadOnlyList<string> NewLines => [.. Process.Lines.Where(l => !_before.Contains(l))];

    /// <summary>The access-log lines ("connection complete") printed after the mark, so far.</summary>
    public IReadOnlyList<string> NewAccessLines => [.. NewLines.Where(IsAccessLine)];

    /// <summary>Marks the current end of <paramref name="process"/>'s output.</summary>
    public static TrafficLog Mark(NodeProcess process) => new(process);

    /// <summary>Waits for a line printed after the mark that matches <paramref name="match"/>.</summary>
    public Task<string> WaitForLineAsync(Predicate<string> match, TimeSpan deadline) =>
        Process.WaitForLineAsync(l => !_before.Contains(l) && match(l), deadline);

    /// <summary>Waits for an access-log line printed after the mark whose fields all hold the given values (exact, unquoted).</summary>
    public async Task<IReadOnlyDictionary<string, string>> WaitForAccessAsync(TimeSpan deadline, params (string Key, string Value)[] fields)
    {
        var line = await WaitForLineAsync(
            l => IsAccessLine(l) && fields.All(f => Fields(l).TryGetValue(f.Key, out var v) && v == f.Value),
            deadline);
        return Fields(line);
    }

    /// <summary>Whether <paramref name="line"/> is an access-log line.</summary>
    public static bool IsAccessLine(string line) => line.Contains("  access  connection complete ", StringComparison.Ordinal);

    /// <summary>The key=value fields of an access-log line, quotes removed.</summary>
    public static IReadOnlyDictionary<string, string> Fields(string line)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in FieldPattern().Matches(line))
        {
            var value = m.Groups["value"].Value;
            fields[m.Groups["key"].Value] = value.Length >= 2 && value[0] == '"' ? Regex.Unescape(value[1..^1]) : value;
        }

        return fields;
    }

    [GeneratedRegex("""(?<key>[a-z_.]+)=(?<value>"(?:[^"\\]|\\.)*"|\S+)""")]
    private static partial Regex FieldPattern();
}
