using System.Diagnostics;

namespace Hbone.Packaging.Tests.Deployment;

/// <summary>Runs deploy/validate/validate.mjs (kubernetes-models schema check, dockerfile-utils lint) under a deadline.</summary>
internal static class NodeValidator
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    public static async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> files)
    {
        string validateDir = Path.Combine(DeployTree.Root, "validate");
        Assert.True(
            Directory.Exists(Path.Combine(validateDir, "node_modules", "kubernetes-models")),
            "deploy/validate/node_modules is missing: run 'npm ci' in deploy/validate (scripts/test.sh does)");

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = PackedPackage.RepositoryRoot,
        };
        start.ArgumentList.Add(Path.Combine(validateDir, "validate.mjs"));
        foreach (string file in files)
        {
            start.ArgumentList.Add(file);
        }

        var (exitCode, stdout, stderr) = await ToolProcess.RunAsync(start, Deadline, "node validate.mjs");
        return (exitCode, stdout + stderr);
    }
}
