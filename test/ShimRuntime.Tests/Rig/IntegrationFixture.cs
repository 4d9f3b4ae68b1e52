using NUnit.Framework;

namespace Csshim.Tests.Rig;

/// <summary>
/// Per-test sandbox for integration tests against one runtime: a temp dir holding bundles, a private runtime
/// `--root` per CLI and a private csshim state dir, so no test sees another's containers. TearDown fails the
/// test when a container or mount is left behind, after cleaning both up.
/// Fixtures run one at a time: they share the machine's runtimes, mounts and cores.
/// </summary>
[NonParallelizable]
public abstract class IntegrationFixture
{
    protected RuntimeUnderTest Runtime { get; }
    protected string TempDir { get; private set; } = "";
    protected ContainerGuard Containers { get; private set; } = new();
    private MountGuard? mounts;
    private readonly List<RuntimeCli> shims = new();
    private int counter;

    protected IntegrationFixture(string runtimeName) => Runtime = RuntimeUnderTest.ByName(runtimeName);

    [SetUp]
    public void SetUpSandbox()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Ignore("integration tests need root (mounts, containers)");
        if (!Runtime.IsPresent) Assert.Ignore(Runtime.MissingReason);
        TempDir = Directory.CreateTempSubdirectory("csshim-it-").FullName;
        Containers = new ContainerGuard();
        shims.Clear();
        mounts = MountGuard.Snapshot(TempDir);
    }

    [TearDown]
    public void TearDownSandbox()
    {
        if (TempDir.Length == 0) return;
        var problems = new List<string>();
        var left = Containers.Remaining();
        if (left.Count > 0) problems.Add("containers left behind: " + string.Join(", ", left));
        Containers.ForceDeleteAll();
        var stray = ProcessGuard.KillLeftovers(TempDir, TimeSpan.FromSeconds(15));
        if (stray.Count > 0) problems.Add("processes left behind (killed): " + string.Join("; ", stray));
        var leaked = mounts?.DetachLeaks() ?? new List<string>();
        if (leaked.Count > 0) problems.Add("mounts left behind: " + string.Join(", ", leaked));
        foreach (var shim in shims)
        {
            var staged = StagedContainers(shim);
            if (staged.Count > 0) problems.Add($"csshim staging dirs left in {shim.ShimStateDir}: {string.Join(", ", staged)}");
        }
        try { Directory.Delete(TempDir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { problems.Add($"could not remove {TempDir}: {e.Message}"); }
        TempDir = "";
        if (problems.Count > 0) Assert.Fail(string.Join("\n", problems));
    }

    /// <summary>The runtime called directly, with its own --root.</summary>
    protected RuntimeCli Direct(string name = "direct") =>
        RuntimeCli.Direct(Runtime, Path.Combine(TempDir, "root-" + name));

    /// <summary>csshim over the runtime, with its own --root and --shim-state-dir.</summary>
    protected RuntimeCli Shim(string name = "shim", bool rootEqualsForm = false)
    {
        var shim = RuntimeCli.Shim(Runtime, Path.Combine(TempDir, "root-" + name), Path.Combine(TempDir, "state-" + name),
            CsshimBinary.Require(), rootEqualsForm);
        shims.Add(shim);
        return shim;
    }

    protected BusyboxBundle NewBundle(string name, params string[] args) =>
        BusyboxBundle.Create(Path.Combine(TempDir, "bundle-" + name), args);

    /// <summary>A fresh container id, tracked for cleanup under <paramref name="cli"/>.</summary>
    protected string NewId(RuntimeCli cli, string hint = "c") =>
        Containers.Track(cli, $"{hint}-{TestContext.CurrentContext.Test.ID.Replace(' ', '-')}-{++counter}".ToLowerInvariant()
            .Replace(':', '-'));

    /// <summary>The runtime called directly and csshim over it, each with a fresh tracked container id, for
    /// tests that run one scenario both ways and compare what the caller sees.</summary>
    protected (RuntimeCli Direct, string DirectId, RuntimeCli Shim, string ShimId) SideBySide(string hint)
    {
        var direct = Direct();
        var shim = Shim();
        return (direct, NewId(direct, hint), shim, NewId(shim, hint));
    }

    /// <summary>Mounts that appeared since the test started (the staging of a live csshim container).</summary>
    protected List<string> NewMounts() => mounts!.NewMounts();

    /// <summary>Container dirs under csshim's state dir (`&lt;state&gt;/&lt;root hash&gt;/&lt;id&gt;`).</summary>
    protected static List<string> StagedContainers(RuntimeCli shim)
    {
        if (shim.ShimStateDir == null || !Directory.Exists(shim.ShimStateDir)) return new List<string>();
        return Directory.GetDirectories(shim.ShimStateDir).SelectMany(Directory.GetDirectories).ToList();
    }

    /// <summary>Polls `state` until the container reaches <paramref name="status"/>.</summary>
    protected static void WaitForStatus(RuntimeCli cli, string id, string status, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        CommandResult last;
        do
        {
            last = cli.Run("state", id);
            if (ContainerExit.StatusOf(last.ExitCode, last.Stdout) == status) return;
            Thread.Sleep(100);
        } while (DateTime.UtcNow < deadline);
        Assert.Fail($"{cli.Label}: container {id} never reached \"{status}\"; last state: {last}");
    }

    /// <summary>Waits for the container to stop for good: its process <paramref name="pid"/> reaped and the
    /// runtime saying "stopped" (see <see cref="ContainerExit"/>).</summary>
    protected static void WaitForStop(RuntimeCli cli, string id, int pid)
    {
        CommandResult? last = null;
        if (ContainerExit.WaitStopped(pid, () => ContainerExit.StatusOf((last = cli.Run("state", id)).ExitCode, last.Stdout),
                TimeSpan.FromSeconds(20))) return;
        Assert.Fail($"{cli.Label}: container {id} never stopped (process {pid} reaped: {ContainerExit.IsReaped(pid)}); last state: {last}");
    }

    /// <summary>Same exit status, stdout and stderr (ids and logrus times taken out) from the runtime and csshim.</summary>
    protected static void AssertSameOutcome(string what, CommandResult direct, string directId, CommandResult shim, string shimId)
    {
        var context = $"{what}\nruntime: {direct}\ncsshim: {shim}";
        Assert.Multiple(() =>
        {
            Assert.That(shim.ExitCode, Is.EqualTo(direct.ExitCode), "exit status of " + context);
            Assert.That(OutputNormalizer.Text(shim.Stdout, shimId), Is.EqualTo(OutputNormalizer.Text(direct.Stdout, directId)),
                "stdout of " + context);
            Assert.That(OutputNormalizer.Text(shim.Stderr, shimId), Is.EqualTo(OutputNormalizer.Text(direct.Stderr, directId)),
                "stderr of " + context);
        });
    }

    protected static void AssertSucceeded(CommandResult r, string what) =>
        Assert.That(r.ExitCode, Is.Zero, $"{what} failed: {r}");
}
