namespace Csshim.Reliability.Tests.Support;

/// <summary>A fresh Sandbox per test, taken down after it whatever happened, with the mounts csshim itself failed
/// to remove reported as a figure. Fixtures run one at a time: they share the machine's runtimes and cores.</summary>
[NonParallelizable]
public abstract class SandboxFixture
{
    protected Sandbox sb = null!;

    [SetUp]
    public void CreateSandbox() => sb = new Sandbox();

    [TearDown]
    public void DisposeSandbox()
    {
        sb.Dispose();
        Figures.Write("leaked-mounts", ("test", TestContext.CurrentContext.Test.Name), ("n", sb.LeakedMounts));
    }
}
