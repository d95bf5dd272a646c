namespace Hbone.Ztunnel.Config;

/// <summary>An environment variable has a bad value; <see cref="Exception.Message"/> is one line naming it.</summary>
/// <param name="variable">The environment variable.</param>
/// <param name="problem">What is wrong.</param>
public sealed class ZtunnelConfigException(string variable, string problem) : Exception($"{variable}: {problem}")
{
    /// <summary>The environment variable.</summary>
    public string Variable { get; } = variable;
}
