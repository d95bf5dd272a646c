using Hbone.Hosting;

namespace Hbone.Tests.Hosting;

/// <summary>The inline-completion switch is set only where the environment left it open, and an explicit value wins.</summary>
public sealed class SocketCompletionsTests
{
    [Fact]
    public void PreferInline_sets_the_switch_when_unset_and_leaves_an_explicit_value_alone()
    {
        var original = Environment.GetEnvironmentVariable(SocketCompletions.InlineVariable);
        try
        {
            Environment.SetEnvironmentVariable(SocketCompletions.InlineVariable, null);
            Assert.True(SocketCompletions.PreferInline());
            Assert.Equal("1", Environment.GetEnvironmentVariable(SocketCompletions.InlineVariable));
            Assert.True(SocketCompletions.IsInline);

            Environment.SetEnvironmentVariable(SocketCompletions.InlineVariable, "0");
            Assert.False(SocketCompletions.PreferInline());
            Assert.Equal("0", Environment.GetEnvironmentVariable(SocketCompletions.InlineVariable));
            Assert.False(SocketCompletions.IsInline);

            Environment.SetEnvironmentVariable(SocketCompletions.InlineVariable, "1");
            Assert.True(SocketCompletions.PreferInline());
        }
        finally
        {
            Environment.SetEnvironmentVariable(SocketCompletions.InlineVariable, original);
        }
    }
}
