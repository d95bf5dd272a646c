namespace Hbone.Packaging.Tests.Deployment;

/// <summary>The instructions of a Dockerfile (continuation lines joined, comments dropped): enough to check COPY and ENTRYPOINT.</summary>
internal sealed record Dockerfile(string Path, IReadOnlyList<(string Keyword, string Arguments)> Instructions)
{
    public static Dockerfile Read(string relative)
    {
        var instructions = new List<(string, string)>();
        string pending = "";
        foreach (string raw in File.ReadAllLines(DeployTree.FullPath(relative)))
        {
            string line = raw.Trim();
            if (line.StartsWith('#') || line.Length == 0)
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            string[] parts = (pending + line).Split(' ', 2, StringSplitOptions.TrimEntries);
            instructions.Add((parts[0].ToUpperInvariant(), parts.Length > 1 ? parts[1] : ""));
            pending = "";
        }

        return new Dockerfile(relative, instructions);
    }

    public IEnumerable<string> Arguments(string keyword) =>
        Instructions.Where(i => i.Keyword == keyword).Select(i => i.Arguments);
}
