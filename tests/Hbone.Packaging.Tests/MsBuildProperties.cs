using System.Diagnostics;
using System.Text.Json;

namespace Hbone.Packaging.Tests;

/// <summary>A project's properties and items as MSBuild evaluates them (Directory.Build.props layers included), via <c>dotnet msbuild -getProperty</c>.</summary>
internal static class MsBuildProperties
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Evaluates <paramref name="names"/> (two or more: MSBuild answers one name as plain text, more as JSON).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> EvaluateAsync(string project, params string[] names)
    {
        Assert.True(names.Length > 1, "ask for two or more properties");
        using JsonDocument json = await RunAsync(project, names, item: null);
        return Properties(json);
    }

    /// <summary>Evaluates <paramref name="names"/> and the <paramref name="item"/> items, each as its identity and its <c>Value</c> metadata.</summary>
    public static async Task<(IReadOnlyDictionary<string, string> Properties, IReadOnlyList<(string Identity, string Value)> Items)> EvaluateWithItemsAsync(
        string project, string item, params string[] names)
    {
        using JsonDocument json = await RunAsync(project, names, item);
        var items = json.RootElement.GetProperty("Items").TryGetProperty(item, out var list)
            ? list.EnumerateArray().Select(i => (i.GetProperty("Identity").GetString() ?? "", i.TryGetProperty("Value", out var v) ? v.GetString() ?? "" : "")).ToList()
            : [];
        return (Properties(json), items);
    }

    private static IReadOnlyDictionary<string, string> Properties(JsonDocument json) =>
        json.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");

    private static async Task<JsonDocument> RunAsync(string project, string[] names, string? item)
    {
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

        if (item is not null)
        {
            start.ArgumentList.Add($"-getItem:{item}");
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        var (exitCode, output, errors) = await ToolProcess.RunAsync(start, Deadline, $"dotnet msbuild {project} -getProperty");
        Assert.True(exitCode == 0, $"dotnet msbuild {project} -getProperty exited with {exitCode}: {output}{errors}");
        return JsonDocument.Parse(output);
    }
}
