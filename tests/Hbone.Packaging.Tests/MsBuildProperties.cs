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
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("msbuild");
        start.ArgumentList.Add(project);
        foreach (string name in names)
        {
            start.ArgumentList.Add($"-getProperty:{name}");
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Deadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet msbuild {project} -getProperty did not finish within {Deadline.TotalSeconds} s");
        }

        string output = await stdout;
        Assert.True(process.ExitCode == 0, $"dotnet msbuild {project} -getProperty exited with {process.ExitCode}: {output}{await stderr}");
        using JsonDocument json = JsonDocument.Parse(output);
        return json.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }
}
