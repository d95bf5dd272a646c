namespace Hbone.Ztunnel.Telemetry;

/// <summary>Writes access-log lines to a <see cref="TextWriter"/>: one line per entry, flushed, safe from many threads.</summary>
/// <remarks>The writer is not owned: disposing it is the caller's job.</remarks>
internal sealed class AccessLogWriter
{
    private readonly Lock _lock = new();
    private readonly TextWriter _output;
    private readonly bool _json;
    private readonly TimeProvider _time;

    /// <summary>Writes to <paramref name="output"/>, as JSON when <paramref name="json"/>, stamped by <paramref name="time"/> (the system clock when null).</summary>
    public AccessLogWriter(TextWriter output, bool json = false, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
        _json = json;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Formats <paramref name="entry"/> and writes it as one <c>\n</c>-terminated line, then flushes.</summary>
    public void Write(ConnectionReport entry)
    {
        string line = _json ? AccessLog.FormatJson(entry, _time) : AccessLog.FormatText(entry, _time);
        lock (_lock)
        {
            _output.Write(line);
            _output.Write('\n');
            _output.Flush();
        }
    }
}
