namespace Hbone.Ztunnel.Config;

/// <summary>The local config file is invalid; <see cref="Exception.Message"/> is one line: <c>file:line:column: path: problem</c>.</summary>
public sealed class LocalConfigException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="fileName">The file, when parsing a file.</param>
    /// <param name="line">The 1-based line.</param>
    /// <param name="column">The 1-based column.</param>
    /// <param name="path">Where in the document, e.g. <c>workloads[1].workloadIps[0]</c>; empty for syntax errors.</param>
    /// <param name="problem">What is wrong.</param>
    /// <param name="inner">The parser's exception, when any.</param>
    public LocalConfigException(string? fileName, long line, long column, string path, string problem, Exception? inner = null)
        : base(Format(fileName, line, column, path, problem), inner)
    {
        FileName = fileName;
        Line = line;
        Column = column;
        Path = path;
        Problem = problem;
    }

    /// <summary>The file, when parsing a file.</summary>
    public string? FileName { get; }

    /// <summary>The 1-based line.</summary>
    public long Line { get; }

    /// <summary>The 1-based column.</summary>
    public long Column { get; }

    /// <summary>Where in the document; empty for syntax errors.</summary>
    public string Path { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }

    private static string Format(string? fileName, long line, long column, string path, string problem)
    {
        string where = fileName is null ? $"{line}:{column}" : $"{fileName}:{line}:{column}";
        string oneLine = problem.ReplaceLineEndings(" ");
        return path.Length == 0 ? $"{where}: {oneLine}" : $"{where}: {path}: {oneLine}";
    }
}
