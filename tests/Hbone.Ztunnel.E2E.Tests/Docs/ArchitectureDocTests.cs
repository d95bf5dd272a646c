using System.Text.RegularExpressions;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.Docs;

/// <summary>
/// DOC-01: docs/architecture.md walks a connection through files that exist, one file per step, never back to a file
/// already left; a file moved or renamed without the walk following fails here.
/// </summary>
public sealed partial class ArchitectureDocTests
{
    private static readonly string Doc = File.ReadAllText(Path.Combine(Repo.Root, "docs", "architecture.md"));

    [Theory]
    [Trait("case", "DOC-01")]
    [InlineData("## An outbound connection")]
    [InlineData("## An inbound connection")]
    public void Each_step_names_one_existing_file_and_no_step_returns_to_a_file_already_left(string heading)
    {
        var steps = StepFiles(heading);

        Assert.True(steps.Count >= 8, $"{heading}: only {steps.Count} steps");
        Assert.All(steps, path => Assert.True(Exists(path), $"{heading}: {path} does not exist"));
        Assert.Equal(steps.Count, steps.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    [Trait("case", "DOC-01")]
    public void Every_path_the_document_names_exists()
    {
        var paths = CodePath().Matches(Doc).Select(m => m.Groups[1].Value).Distinct().ToList();

        Assert.NotEmpty(paths);
        Assert.All(paths, path => Assert.True(Exists(path), $"{path} does not exist"));
    }

    /// <summary>The first file named in each numbered step of the section under <paramref name="heading"/>.</summary>
    private static List<string> StepFiles(string heading)
    {
        var start = Doc.IndexOf(heading, StringComparison.Ordinal);
        Assert.True(start >= 0, $"no section {heading}");
        var end = Doc.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
        var section = Doc[start..(end < 0 ? Doc.Length : end)];
        return [.. Step().Matches(section).Select(m => m.Groups[1].Value)];
    }

    // Paths are relative to src/ when they start with a project name, else to the ztunnel's project.
    private static bool Exists(string path)
    {
        var full = path.StartsWith("Hbone", StringComparison.Ordinal)
            ? Path.Combine(Repo.Root, "src", path)
            : Path.Combine(Repo.Root, "src", "Hbone.Ztunnel", path);
        return path.EndsWith('/') ? Directory.Exists(full) : File.Exists(full);
    }

    [GeneratedRegex(@"^\d+\. `([^`]+)`", RegexOptions.Multiline)]
    private static partial Regex Step();

    [GeneratedRegex(@"`((?:[\w.]+/)+(?:[\w.]+\.cs)?)`")]
    private static partial Regex CodePath();
}
