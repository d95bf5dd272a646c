using System.Globalization;
using System.Net;

namespace Hbone.TunnelBench;

/// <summary>A command-line mistake; reported as one line with a pointer to --help.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>A measurement that could not be completed (reported as one line, exit code 1).</summary>
internal sealed class BenchException(string message) : Exception(message);

/// <summary><c>--name value</c> pairs after the subcommand; every getter validates its value.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public bool Help { get; private init; }

    public static Options Parse(ReadOnlySpan<string> args)
    {
        var help = false;
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                help = true;
                continue;
            }
            if (!name.StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new UsageException($"expected '--name value', got '{name}'");
            }
            options[name[2..]] = args[++i];
        }
        var result = new Options { Help = help };
        foreach (var (k, v) in options)
        {
            result._values[k] = v;
        }
        return result;
    }

    /// <summary>Rejects any option that the subcommand does not take (a typo must not pass silently).</summary>
    public Options Allow(params string[] names)
    {
        foreach (var name in _values.Keys)
        {
            if (Array.IndexOf(names, name) < 0)
            {
                throw new UsageException($"unknown option '--{name}'");
            }
        }
        return this;
    }

    public IPEndPoint EndPoint(string name)
    {
        var text = Required(name);
        return IPEndPoint.TryParse(text, out var endPoint) && text.Contains(':', StringComparison.Ordinal)
            ? endPoint
            : throw new UsageException($"--{name} '{text}' is not IP:PORT");
    }

    public int Int(string name, int defaultValue, int min, int max)
    {
        if (!_values.TryGetValue(name, out var text))
        {
            return defaultValue;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"--{name} '{text}' must be an integer in [{min}, {max}]");
    }

    public double Seconds(string name, double defaultValue, double max)
    {
        if (!_values.TryGetValue(name, out var text))
        {
            return defaultValue;
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0 && value <= max
            ? value
            : throw new UsageException($"--{name} '{text}' must be a number of seconds in [0, {max}]");
    }

    public string Required(string name) =>
        _values.TryGetValue(name, out var text) ? text : throw new UsageException($"--{name} is required");
}
