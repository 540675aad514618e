// Shared by the pages of `report --html` and `plot` (tools/precis/Html.cpp puts it first in
// each page's <head>): any script error or unhandled rejection marks the page as failed in
// #precis-status, which the tests read; precisT0 is when the page's scripts began.
window.precisT0 = performance.now();
(function () {
  function fail(message) {
    var status = document.getElementById('precis-status');
    if (status) {
      status.setAttribute('data-ok', 'false');
      status.setAttribute('data-error', String(message));
      status.hidden = false;
      status.textContent = 'error: ' + message;
    } else {
      window.precisEarlyError = String(message);
    }
  }
  window.onerror = function (message, source, line, column) {
    fail(message + ' (line ' + line + ':' + column + ')');
  };
  window.addEventListener('unhandledrejection', function (e) {
    fail('unhandled rejection: ' + (e.reason && e.reason.message || e.reason));
  });
  window.precisFail = fail;
})();
