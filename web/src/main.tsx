import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Dashboard } from "./dashboard/dashboard.js";
import { DevicePage } from "./device/device-page.js";
import "uplot/dist/uPlot.min.css";
import "./style.css";

/** #/device?job=… and #/dashboard?job=…: hash routes, so any static server can host the app. */
function useRoute(): { page: string; params: URLSearchParams } {
  const read = () => {
    const [page, query] = (location.hash.replace(/^#\/?/, "") || "dashboard").split("?");
    return { page, params: new URLSearchParams(query ?? "") };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

function App() {
  const { page, params } = useRoute();
  const job = params.get("job") ?? "";
  return (
    <>
      <header>
        <strong>fedproof</strong>
        <a
          href={`#/dashboard${job ? `?job=${job}` : ""}`}
          class={page === "dashboard" ? "active" : ""}
        >
          Dashboard
        </a>
        <a href={`#/device${job ? `?job=${job}` : ""}`} class={page === "device" ? "active" : ""}>
          Join as a device
        </a>
      </header>
      <main>
        {page === "device" ? (
          <DevicePage
            jobId={job}
            backend={params.get("backend") ?? undefined}
            samples={Number(params.get("samples") ?? 200)}
          />
        ) : (
          <Dashboard jobId={job} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
