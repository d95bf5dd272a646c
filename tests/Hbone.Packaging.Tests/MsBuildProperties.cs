using System.Diagnostics;
using System.Text.Json;

namespace Hbone.Packaging.Tests;

/// <summary>A project's properties as MSBuild evaluates them (Directory.Build.props layers included), via <c>dotnet msbuild -getProperty</c>.</summary>
internal static class MsBuildProperties
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Evaluates <paramref name="names"/> (two or more: MSBuild answers one name as plain text, more as JSON).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> EvaluateAsync(string project, params string[] names)
    {
        Assert.True(names.Length > 1, "ask for two or more properties");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = PackedPackage.RepositoryRoot,
        };
        start.ArgumentList.Add("msbuild");
        start.ArgumentList.Add(project);
        foreach (string name in names)
        {
            start.ArgumentList.Add($"-getProperty:{name}");
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        var (exitCode, output, errors) = await ToolProcess.RunAsync(start, Deadline, $"dotnet msbuild {project} -getProperty");
        Assert.True(exitCode == 0, $"dotnet msbuild {project} -getProperty exited with {exitCode}: {output}{errors}");
        using JsonDocument json = JsonDocument.Parse(output);
        return json.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }
}
