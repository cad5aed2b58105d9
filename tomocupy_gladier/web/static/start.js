// The start page: the flow's input schema drawn by JSON Editor (jsoneditor.min.js, see
// jsoneditor.NOTICE); the input is sent as JSON with the page's start token, and the server
// answers with the run's page or the problems it found.
"use strict";

function showProblems(box, problems) {
  box.replaceChildren();
  const title = document.createElement("p");
  title.textContent = "Not started: the input has " + (problems.length === 1 ? "a problem" : problems.length + " problems");
  const list = document.createElement("ul");
  for (const problem of problems) {
    const item = document.createElement("li");
    item.textContent = problem;
    list.appendChild(item);
  }
  box.append(title, list);
  box.hidden = false;
  box.scrollIntoView({block: "nearest"});
}

function startPage(holder) {
  const button = document.getElementById("start-button");
  const state = document.getElementById("start-state");
  const problems = document.getElementById("start-problems");
  fetch(holder.dataset.schema, {credentials: "same-origin"})
    .then(r => r.ok ? r.json() : Promise.reject("the schema could not be read (" + r.status + ")"))
    .then(({form, start}) => {
      const editor = new JSONEditor(holder, {
        schema: form, startval: start, theme: "html", iconlib: null, use_default_values: true,
        remove_empty_properties: true, disable_edit_json: true, disable_properties: true,
        disable_array_reorder: true, no_additional_properties: true, show_errors: "interaction",
        prompt_before_delete: false, form_name_root: "input",
      });
      window.startEditor = editor;
      editor.on("ready", () => { button.disabled = false; });
      button.addEventListener("click", () => {
        button.disabled = true;
        state.textContent = "checking and starting...";
        problems.hidden = true;
        fetch(holder.dataset.post, {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-Start-Token": holder.dataset.token},
          body: JSON.stringify({input: editor.getValue()}),
        })
          .then(r => r.json().then(answer => ({ok: r.ok, answer})))
          .then(({ok, answer}) => {
            if (ok) {
              state.textContent = "started run " + answer.run_id;
              location.assign(answer.url);
              return;
            }
            showProblems(problems, answer.problems || ["the server refused the input"]);
            state.textContent = "";
            button.disabled = false;
          })
          .catch(err => { showProblems(problems, [String(err)]); state.textContent = ""; button.disabled = false; });
      });
    })
    .catch(err => showProblems(problems, [String(err)]));
}

document.addEventListener("DOMContentLoaded", () => {
  const holder = document.getElementById("start-form");
  if (holder) startPage(holder);
});
