namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>Paths in the repository the tests run from: the lab script and the built programs.</summary>
internal static class Repo
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The directory that holds Hbone.sln.</summary>
    public static string Root => s_root.Value;

    /// <summary>scripts/lab/mesh-lab.sh, the single source of truth for the topology.</summary>
    public static string MeshLabScript => Path.Combine(Root, "scripts", "lab", "mesh-lab.sh");

    /// <summary>The configuration this test assembly was built with (Release or Debug); the programs are run from the same one.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";

    /// <summary>The built dll of a project under src/, e.g. <c>Program("Hbone.Ztunnel")</c>.</summary>
    public static string Program(string project) =>
        Path.Combine(Root, "src", project, "bin", Configuration, "net10.0", project + ".dll");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hbone.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Hbone.sln above {AppContext.BaseDirectory}");
    }
}
