using Csshim.OciSpec;

namespace Csshim.Tests;

/// <summary>Which annotation names a container's archive: runsc's rules (docs/FORMAT.md, runsc/specutils).</summary>
public class RootfsTarAnnotationTests
{
    private const string Bare = RootfsTarAnnotation.BaseKey;
    private const string Name = RootfsTarAnnotation.ContainerNameKey;
    private const string Type = RootfsTarAnnotation.ContainerTypeKey;

    private static Dictionary<string, string> A(params string[] pairs)
    {
        var d = new Dictionary<string, string>();
        for (var i = 0; i < pairs.Length; i += 2) d[pairs[i]] = pairs[i + 1];
        return d;
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(A(), null, null).SetName("none");
        yield return new TestCaseData(A("dev.gvisor", "1"), null, null).SetName("unrelated");
        yield return new TestCaseData(A(Bare, "/a.tar"), Bare, "/a.tar").SetName("bare key, single container");
        yield return new TestCaseData(A(Bare, ""), null, null).SetName("empty path is unset");
        yield return new TestCaseData(A(Name, "web", Bare, "/a.tar"), null, null).SetName("named: bare key ignored");
        yield return new TestCaseData(A(Name, "web", Bare + ".web", "/w.tar", Bare + ".db", "/d.tar"), Bare + ".web", "/w.tar")
            .SetName("named: per-name key");
        yield return new TestCaseData(A(Type, "container", Bare, "/a.tar"), null, null).SetName("pod member without name: none");
        yield return new TestCaseData(A(Type, "sandbox", Bare, "/a.tar"), null, null).SetName("sandbox without name: none");
        yield return new TestCaseData(A(Type, "other", Bare, "/a.tar"), Bare, "/a.tar").SetName("other container type: bare key");
        yield return new TestCaseData(A(Type, "container", Name, "web", Bare + ".web", "/w.tar"), Bare + ".web", "/w.tar")
            .SetName("pod member with name");
        yield return new TestCaseData(A(Name, "web-123", RootfsTarAnnotation.NameRemapPrefix + "1", "web-123=web",
                Bare + ".web", "/w.tar", Bare + ".web-123", "/raw.tar"), Bare + ".web", "/w.tar")
            .SetName("remap renames the container");
        yield return new TestCaseData(A(Name, "web", RootfsTarAnnotation.NameRemapPrefix + "1", "other=x",
                RootfsTarAnnotation.NameRemapPrefix + "2", "bad", Bare + ".web", "/w.tar"), Bare + ".web", "/w.tar")
            .SetName("remap for another name or malformed is ignored");
        yield return new TestCaseData(A(RootfsTarAnnotation.CrioContainerNameKey, "web", Bare + ".web", "/w.tar", Bare, "/a.tar"),
            Bare + ".web", "/w.tar").SetName("CRI-O name");
        yield return new TestCaseData(A(RootfsTarAnnotation.CrioContainerTypeKey, "container", Bare, "/a.tar"), null, null)
            .SetName("CRI-O pod member without name");
        yield return new TestCaseData(A(Name, "", Bare, "/a.tar"), Bare, "/a.tar").SetName("empty name is no name");
    }

    [TestCaseSource(nameof(Cases))]
    public void Find(Dictionary<string, string> annotations, string? key, string? path)
    {
        var found = RootfsTarAnnotation.Find(annotations);
        Assert.That(found?.Key, Is.EqualTo(key));
        Assert.That(found?.ArchivePath, Is.EqualTo(path));
    }

    [Test]
    public void FamilyKeysListsBareAndPerNameKeysOnly()
    {
        var keys = RootfsTarAnnotation.FamilyKeys(A(Bare + ".db", "1", Bare, "2", Bare + "x", "3", "dev.gvisor.tar", "4", Name, "db"));
        Assert.That(keys, Is.EqualTo(new[] { Bare, Bare + ".db" }));
    }

    [Test]
    public void ApplicableKeyIsKnownEvenWhenAbsent()
    {
        Assert.That(RootfsTarAnnotation.ApplicableKey(A(Name, "web")), Is.EqualTo(Bare + ".web"));
        Assert.That(RootfsTarAnnotation.ApplicableKey(A()), Is.EqualTo(Bare));
        Assert.That(RootfsTarAnnotation.ApplicableKey(A(Type, "sandbox")), Is.Null);
    }

    [Test]
    public void FindWorksOnALoadedSpec()
    {
        var dir = Directory.CreateTempSubdirectory("csshim-ann-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"),
                $$$"""{"root": {"path": "rootfs"}, "annotations": {"{{{Name}}}": "web", "{{{Bare}}}.web": "/w.tar", "{{{Bare}}}": 5}}""");
            var spec = BundleSpec.Load(dir);
            Assert.That(RootfsTarAnnotation.Find(spec.Annotations), Is.EqualTo(new RootfsTarAnnotation(Bare + ".web", "/w.tar")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
