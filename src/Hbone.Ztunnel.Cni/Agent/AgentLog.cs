namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>The agent's log: one line per event on the output, problems on the error writer, each flushed at once.</summary>
internal sealed class AgentLog(TextWriter output, TextWriter error)
{
    public void Info(string line) => Write(output, line);

    public void Error(string line) => Write(error, line);

    private static void Write(TextWriter writer, string line)
    {
        // The writers are shared by threads (timers, the watch loops, ZDS connections): one whole line at a time.
        lock (writer)
        {
            writer.WriteLine(line);
            writer.Flush();
        }
    }
}
